"""Scoring: trial lists and scores, EER/minDCF, bootstrap intervals, calibration, plots."""
