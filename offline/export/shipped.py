"""Where the shipped student lives: the model directory that `make serve`, `twinrank index build` and
`twinrank evaluate` use when no `--model` is named (`TWINRANK_MODEL` overrides it, e.g. in an image)."""

from __future__ import annotations

import os
from pathlib import Path

from offline.errors import ExportError

SHIPPED_MODEL_ENV = "TWINRANK_MODEL"
# Committed in the repository beside the packages (see its MODEL_CARD.md).
SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[2] / "shipped" / "twinbert-de"


def shipped_model_dir() -> Path:
    return Path(os.environ.get(SHIPPED_MODEL_ENV) or SHIPPED_MODEL_DIR)


def model_or_shipped(model: Path | None) -> Path:
    """`model` when given, else the shipped student; a clear error when neither is there."""
    if model is not None:
        return model
    d = shipped_model_dir()
    if not (d / "model.json").is_file():
        raise ExportError(f"no --model given and no shipped student at {d} (pass --model or set {SHIPPED_MODEL_ENV})")
    return d
