"""Command-line tools around the engine: the sweep report and its CLI, the cache CLI."""
