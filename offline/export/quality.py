"""ROC-AUC of an exported model on QADSM-format pairs: fp32 ONNX, int8 ONNX and 8-bit ad vectors.

The pairs are scored with the service's runtime (`service.runtime`): the same sessions, tokenizer and heads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from offline.data.qadsm import pair_ad_texts, read_tsv
from offline.errors import DataError, ExportError
from offline.evaluation.exported import encode_unique
from offline.export.model_dir import MODEL_JSON
from offline.export.quantise import INT8_SCALE, quantize_vectors
from service.runtime.heads import cos_logits
from service.runtime.index import dequantize
from service.runtime.onnx_model import CPU, OnnxModel
from service.runtime.towers import OnnxTower

INT8_AUC_MAX_LOSS = 0.005
REPORT_NAME = "export_report.json"


def read_qadsm(path: str | Path, limit: int | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """Queries, ad texts (title + ' ' + description) and 0/1 labels (Good = 1), read by the one QADSM reader;
    a malformed file is an `ExportError` naming its line (it is the export's evaluation input)."""
    try:
        pairs = read_tsv(path, limit)
    except DataError as e:
        message = f"{e.path}: line {e.line}: {e.reason}" if e.line is not None else str(e)
        raise ExportError(message) from e
    return pairs.query, pair_ad_texts(pairs), pairs.label


def evaluate_model_dir(model_dir: str | Path, pairs_path: str | Path, limit: int | None = None,
                       threads: int = 1) -> dict:
    """Score the pairs with fp32 and int8 towers and with 8-bit ad vectors; return AUCs per head."""
    from sklearn.metrics import roc_auc_score

    d = Path(model_dir)
    info = json.loads((d / MODEL_JSON).read_text())
    queries, ads, y = read_qadsm(pairs_path, limit)
    if len(set(y.tolist())) < 2:
        raise ExportError(f"{pairs_path}: ROC-AUC needs both Good and Bad rows")
    res = (OnnxModel(d / info["heads"]["res"]["file"], CPU, threads, 1, ("q", "a")) if info["heads"].get("res")
           else None)
    cos = info["heads"]["cos"]

    def aucs(q: np.ndarray, a: np.ndarray) -> dict[str, float]:
        out = {"cos": float(roc_auc_score(y, cos_logits(q, a, cos["scale"], cos["bias"])))}
        if res is not None:
            out["res"] = float(roc_auc_score(y, res.run(q=q, a=a)))
        return out

    report: dict = {"pairs": str(Path(pairs_path).name), "n_pairs": int(len(y)), "limit": limit}
    vecs = {}
    for variant in ("fp32", "int8"):
        files = info["encoders"]
        if not files["query"].get(variant):  # an int8-only (shipped) export has no fp32 towers
            continue
        towers = {r: OnnxTower(d / files[r][variant], d / "tokenizer.json", info[f"{r}_prefix"],
                               info[f"{r}_max_len"], threads) for r in ("query", "ad")}
        vecs[variant] = (encode_unique(towers["query"], queries), encode_unique(towers["ad"], ads))
        report[f"auc_{variant}"] = aucs(*vecs[variant])
    base = "fp32" if "fp32" in vecs else "int8"
    q, a = vecs[base]
    a8 = dequantize(quantize_vectors(a), INT8_SCALE)
    report[f"auc_{base}_towers_8bit_ad_vectors"] = aucs(q, a8)
    head = info["calibration"]["head"] if info["calibration"]["head"] in report[f"auc_{base}"] else "cos"
    report["head"] = head
    if "auc_int8" in report and "auc_fp32" in report:
        loss = report["auc_fp32"][head] - report["auc_int8"][head]
        report["int8_auc_loss"] = loss
        report["int8_auc_loss_ok"] = bool(loss <= INT8_AUC_MAX_LOSS)
    report["vec8_auc_loss"] = report[f"auc_{base}"][head] - report[f"auc_{base}_towers_8bit_ad_vectors"][head]
    return report


def write_export_report(model_dir: str | Path, report: dict) -> Path:
    """Write export_report.json and copy the figures into model.json's metrics (atomically replaced)."""
    d = Path(model_dir)
    (d / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n")
    info = json.loads((d / MODEL_JSON).read_text())
    info.setdefault("metrics", {})["export_eval"] = report
    tmp = d / f".{MODEL_JSON}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, d / MODEL_JSON)
    return d / REPORT_NAME
