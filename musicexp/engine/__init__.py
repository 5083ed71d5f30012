"""The engine: it runs registered steps and knows none of them by name, nor the domain.

plan (the steps a run needs, their order from deps, their hashes), runner (resume / skip /
force, on_error), job (records, the job file, reports), dry_run, table (the step table),
cache (where artifacts live), results (results.jsonl / .csv), schema (the config assembled from
the registered steps and dataset schema), validate, paths (the launch and every path), help
(``--help``, mistyped keys), domain (what the app registers: dataset schema, opener, packages).
It imports only :mod:`musicexp.core` (tests/test_layers.py checks it).
"""
