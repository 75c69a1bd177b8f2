"""`twinrank distill`: the stage list (`stages.py`, typed and resumable through `run.py`) and each stage's
body: teacher fine-tuning, teacher scoring, student distillation and fine-tuning, comparison models and
calibration, and every model's predictions for the evaluate stage (`predictions`; the metrics and the report
are `offline.evaluation`'s)."""
