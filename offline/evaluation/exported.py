"""`twinrank evaluate`: an exported (ONNX) student scored on a QADSM split through the service's own runtime.

The towers, crossing head and calibration are the ones `service.runtime` runs for `/rank`, so the figures are
those of the shipped files, not of the PyTorch checkpoint they came from. The decision threshold for accuracy
is chosen on dev, as in the distillation report; ROC-AUC, its bootstrap CI and nDCG use the report's code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from offline.data.qadsm import Pairs, pair_ad_texts, read_split
from offline.errors import ExportError
from offline.evaluation.ranking_metrics import ece, model_metrics
from service.bundle.manifest import Calibration, EncoderFiles
from service.runtime.heads import calibrate, cos_logits
from service.runtime.onnx_model import CPU, OnnxModel
from service.runtime.towers import OnnxTower

MODEL_JSON = "model.json"


def _model_info(model_dir: Path) -> dict:
    path = model_dir / MODEL_JSON
    if not path.is_file():
        raise ExportError(f"{path}: missing (not a `twinrank export` model directory)")
    return json.loads(path.read_text())


def encode_unique(tower: OnnxTower, texts: list[str]) -> np.ndarray:
    """Vectors of `texts` in order, each distinct text encoded once."""
    uniq = sorted(set(texts))
    pos = {t: i for i, t in enumerate(uniq)}
    return tower.encode_sorted(uniq, batch_size=64)[[pos[t] for t in texts]]


class ExportedStudent:
    """The towers, head and calibration of one model directory, as the service runs them."""

    def __init__(self, model_dir: str | Path, precision: str = "int8", threads: int = 2) -> None:
        d = Path(model_dir)
        info = _model_info(d)
        self.dir, self.info = d, info
        self.calibration = Calibration.model_validate(info["calibration"])
        self.towers = {}
        for route in ("query", "ad"):
            files = EncoderFiles.model_validate(info["encoders"][route])
            name = files.file(precision)
            self.precision = "int8" if name == files.int8 else "fp32"
            self.towers[route] = OnnxTower(d / name, d / "tokenizer.json", info[f"{route}_prefix"],
                                           info[f"{route}_max_len"], threads, dim=info["dim"])
        res = info["heads"].get("res")
        self.res = OnnxModel(d / res["file"], CPU, threads, 1, ("q", "a")) if res else None

    def logits(self, pairs: Pairs) -> np.ndarray:
        """The calibration head's logit for each pair."""
        q = encode_unique(self.towers["query"], pairs.query)
        a = encode_unique(self.towers["ad"], pair_ad_texts(pairs))
        if self.calibration.head == "res":
            if self.res is None:
                raise ExportError(f"{self.dir}: calibration uses the res head, which the export lacks")
            return self.res.run(q=q, a=a).astype(np.float64)
        cos = self.info["heads"]["cos"]
        return cos_logits(q, a, cos["scale"], cos["bias"]).astype(np.float64)


def evaluate_exported(model_dir: str | Path, data: str, split: str = "test", precision: str = "int8",
                      threads: int = 2, bootstrap: int = 1000, limit: int | None = None) -> dict:
    """ROC-AUC (with CI), accuracy at the dev threshold, nDCG@5, ECE of the calibrated relevance on `split`."""
    student = ExportedStudent(model_dir, precision, threads)
    dev, part = read_split(data, "dev", limit), read_split(data, split, limit)
    for name, p in (("dev", dev), (split, part)):
        if len(set(p.label.tolist())) < 2:
            raise ExportError(f"{data}: the {name} split needs both Good and Bad rows")
    s_dev, s = student.logits(dev), student.logits(part)
    metrics = model_metrics(dev.label, s_dev, part.label, s, part.query, bootstrap, 5, [1, 3])
    metrics.pop("_roc", None)
    relevance = calibrate(s, student.calibration)
    return {
        "model": str(model_dir), "split": split, "rows": len(part), "precision": student.precision,
        "head": student.calibration.head, **metrics, "ece": ece(part.label, relevance),
    }
