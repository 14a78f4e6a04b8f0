"""Diagnostics: configuration verdicts, the training probe, the overfitting and floor checks."""
