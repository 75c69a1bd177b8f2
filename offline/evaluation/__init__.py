"""Scoring every model of a run with the same metric code (ROC-AUC, calibration, ranking) and the report."""
