"""Evaluation: folds (outer, inner, repeats), models, metrics and statistics, modes."""
