"""One module per pipeline step. Each exposes VERSION, DEPS, ``params(cfg)`` (the config
values it reads: they enter its hash) and ``run(inputs, cfg)`` -> (outputs, summary).
Steps never touch the filesystem layout: the pipeline hands them loaded inputs."""
