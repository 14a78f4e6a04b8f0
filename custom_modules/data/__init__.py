"""Data: CSVs and audio pipelines, preparation of corpora, augmentation, sampling, audio checks."""
