"""Studies: comparisons, cross-validation and learning curves built on training and evaluation."""
