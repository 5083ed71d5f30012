"""Time-aware Sequence Graph Transform: events and tokens, pair-sum kernels, per-fold
vocabulary and normalisation, and the feature block train reads (docs/sgt.md)."""
