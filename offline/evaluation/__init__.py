"""Metrics and the report of a distillation run: every model's predictions (made by the evaluate stage,
`offline.distill.predictions`) scored with the same code, and metrics.json / report.md / plots written."""
