"""musicexp: reproducible symbolic-music classification experiments as one Hydra app."""

__version__ = "0.1.0"
