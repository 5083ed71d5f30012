"""Hydra config tree, shipped as the package data musicexp.conf (see pyproject.toml)."""
