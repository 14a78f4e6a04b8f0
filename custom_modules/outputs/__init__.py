"""Outputs: atomic writes, output-folder safety, run locks, provenance, experiment folders."""
