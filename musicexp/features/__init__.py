"""Feature computations (numpy in, numpy out) and the feature-block registry: blocks.py, sgt/,
midi2vec/, metadata.py."""
