"""`twinrank distill`: the stage list (`stages.py`, typed and resumable through `run.py`) and each stage's
body: teacher fine-tuning, teacher scoring, student distillation and fine-tuning, comparison models and
calibration. The evaluate stage's body is `offline.evaluation.evaluate`."""
