"""`twinrank export`: a TwinBERT checkpoint → a model directory (ONNX towers and head, tokenizer, model.json).

The model directory is what `index build` copies into every bundle: `model.json` carries the text settings,
heads, calibration and metrics, and is written last, so a directory without it is an unfinished export.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from common.files import write_json
from offline.errors import ExportError
from service.bundle.layout import sha256_file
from service.bundle.manifest import TOKENIZER_FILE, Calibration

if TYPE_CHECKING:  # torch stays out of `read_model_dir`'s import path (index build and update need no torch)
    from models.twinbert import TwinBERT

MODEL_JSON = "model.json"
MODEL_FORMAT = 1
QUERY_ONNX, AD_ONNX, RES_ONNX = "query_encoder.onnx", "ad_encoder.onnx", "res_head.onnx"
# The ad tower keeps its GELU-fed MatMuls in float (dev ROC-AUC 0.8680 → 0.8700 of fp32's 0.8707, +7 MB); the
# query tower loses nothing to plain int8 on dev and is on the request path, so it stays all int8 and fast.
FLOAT_GELU_ROUTES = frozenset({"ad"})


def load_run(run: str | Path) -> tuple[TwinBERT, Calibration | None, dict]:
    """A checkpoint dir (has twinbert.json) or a run dir whose `student_kd/` is one; plus calibration, metrics."""
    from models.twinbert import TwinBERT

    run = Path(run)
    if (run / "twinbert.json").exists():
        ckpt, run_dir = run, run.parent if (run.parent / "calibration.json").exists() else run
    elif (run / "student_kd" / "twinbert.json").exists():
        ckpt, run_dir = run / "student_kd", run
    else:
        raise ExportError(f"{run}: neither a TwinBERT checkpoint (twinbert.json) nor a run dir with student_kd/")
    calibration = None
    cal_file = run_dir / "calibration.json"
    if cal_file.exists():
        try:
            calibration = Calibration.model_validate_json(cal_file.read_text())
        except ValueError as e:
            raise ExportError(f"{cal_file}: invalid calibration ({e.errors()[0]['msg']})") from e
    metrics: dict = {}
    for name in ("metrics.json", "report/metrics.json", "report.json"):
        if (run_dir / name).exists():
            loaded = json.loads((run_dir / name).read_text())
            metrics = _student_figures(loaded) if isinstance(loaded, dict) else {}
            break
    return TwinBERT.load(ckpt), calibration, metrics


def _student_figures(report: dict) -> dict:
    """The exported student's own figures from a distillation report (not every comparison model's)."""
    student = report.get("models", {}).get("student_kd")
    if student is None:
        return report
    keep = ("roc_auc", "roc_auc_ci", "accuracy", "dev_roc_auc", "ndcg_at_5")
    return {"report_student_kd": {k: student[k] for k in keep if k in student},
            "gain_kept": report.get("gain_kept"), "split": report.get("split"), "rows": report.get("rows")}


def record_metrics(model_dir: str | Path, key: str, figures: dict) -> None:
    """Add `figures` under `metrics[key]` of an export's `model.json` (atomically; the files' digests stay)."""
    path = Path(model_dir) / MODEL_JSON
    info = read_model_dir(model_dir)
    info.setdefault("metrics", {})[key] = figures
    write_json(path, info)


def export_model(model: TwinBERT, out_dir: str | Path, calibration: Calibration | dict | None = None,
                 int8: bool = True, metrics: dict | None = None, force: bool = False,
                 keep_fp32: bool = True) -> Path:
    """Export `model` into `out_dir` (built beside it, then renamed into place) and return `out_dir`.

    `keep_fp32=False` (with `int8`) ships only the int8 towers; the fp32 graphs are still written and checked
    first, since parity and quantisation start from them. Raises `ExportError` when fp32 ONNX differs from
    PyTorch by more than 1e-4 on the sample texts.
    """
    if not keep_fp32 and not int8:
        raise ExportError("dropping the fp32 towers needs the int8 ones (int8=True)")
    out = Path(out_dir)
    if out.exists() and not force:
        raise ExportError(f"{out}: exists (pass force=True / --force to replace it)")
    if isinstance(calibration, dict):
        calibration = Calibration.model_validate(calibration)
    calibration = calibration or Calibration(head="res", kind="identity", a=1.0, b=0.0)
    model = model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-export-{out.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        info = _write_graphs(model, tmp, int8)
        if not keep_fp32:
            for files in info["encoders"].values():
                (tmp / files["fp32"]).unlink()
                files["fp32"] = None
        info.update(_model_info(model, calibration, metrics or {}))
        info["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        info["model_id"] = model_id(out.name, info["files"])
        (tmp / MODEL_JSON).write_text(json.dumps(info, indent=2) + "\n")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_graphs(model: TwinBERT, d: Path, int8: bool) -> dict:
    import torch

    from offline.export.onnx_graphs import export_res_head, export_tower
    from offline.export.parity import PARITY_TOL, SAMPLE_TEXTS, head_parity, tower_parity
    from offline.export.quantise import int8_agreement, quantize_int8

    encoders: dict[str, dict] = {}
    parity: dict[str, float] = {}
    torch.set_grad_enabled(False)
    try:
        for route, name in (("query", QUERY_ONNX), ("ad", AD_ONNX)):
            sample = model.tokenizer(route)(SAMPLE_TEXTS[:2])
            export_tower(model.tower(route), d / name, sample)
            parity[route] = tower_parity(model, route, d / name)
            encoders[route] = {"fp32": name, "int8": None}
        export_res_head(model.res_head, model.dim, d / RES_ONNX)
        parity["res"] = head_parity(model, d / RES_ONNX)
    finally:
        torch.set_grad_enabled(True)
    bad = {k: v for k, v in parity.items() if not v <= PARITY_TOL}
    if bad:
        raise ExportError(f"ONNX parity failed: max abs diff {bad} > {PARITY_TOL}")
    agreement = {}
    if int8:
        for route in ("query", "ad"):
            name = encoders[route]["fp32"].replace(".onnx", ".int8.onnx")
            quantize_int8(d / encoders[route]["fp32"], d / name, float_gelu_matmuls=route in FLOAT_GELU_ROUTES)
            encoders[route]["int8"] = name
            agreement[route] = int8_agreement(d / encoders[route]["fp32"], d / name, model, route)
    shutil.copyfile(Path(model.tokenizer_dir) / TOKENIZER_FILE, d / TOKENIZER_FILE)
    return {"encoders": encoders, "parity_max_abs_diff": parity, "int8_mean_cos_vs_fp32": agreement,
            "int8_float_gelu_matmuls": sorted(FLOAT_GELU_ROUTES) if int8 else []}


def _model_info(model: TwinBERT, calibration: Calibration, metrics: dict) -> dict:
    from models.text import AD_SEPARATOR
    from models.twinbert import _versions

    c = model.config
    cos = model.cos_head
    vocab = model.query_tower.encoder.embeddings.word_embeddings.num_embeddings
    import onnxruntime

    return {
        "format": MODEL_FORMAT,
        "base": c.base, "recipe": c.recipe, "metrics": metrics,
        "query_prefix": c.query_prefix, "ad_prefix": c.ad_prefix, "ad_separator": AD_SEPARATOR,
        "query_max_len": c.query_max_len, "ad_max_len": c.ad_max_len, "dim": model.dim,
        "config": {k: v for k, v in asdict(c).items() if k != "encoder_config"},
        "versions": _versions() | {"onnxruntime": onnxruntime.__version__},
        "heads": {"cos": {"scale": cos.scale.item(), "bias": cos.bias.item()}, "res": {"file": RES_ONNX}},
        "calibration": calibration.model_dump(),
        "vocab": c.recipe.get("vocab_trimmed") or {"kept": vocab, "original": vocab},
    }


def model_id(name: str, files: dict[str, str]) -> str:
    """`name@<12 hex>`: the digest covers every file's sha256, so equal ids mean the same weights and tokenizer."""
    digest = hashlib.sha256("".join(f"{n}:{files[n]}\n" for n in sorted(files)).encode()).hexdigest()
    return f"{name}@{digest[:12]}"


def _swap_in(tmp: Path, out: Path) -> None:
    """Rename the finished export into place; an old export at `out` is moved aside first, then removed."""
    old = None
    if out.exists():
        old = out.parent / f".old-export-{out.name}-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_model_dir(model_dir: str | Path) -> dict:
    """`model.json` of an export, with every listed file checked against its sha256."""
    d = Path(model_dir)
    path = d / MODEL_JSON
    if not path.is_file():
        raise ExportError(f"{path}: missing (not a finished `twinrank export` output)")
    info = json.loads(path.read_text())
    for name, digest in info.get("files", {}).items():
        if not (d / name).is_file():
            raise ExportError(f"{d / name}: missing (listed in {MODEL_JSON})")
        if sha256_file(d / name) != digest:
            raise ExportError(f"{d / name}: sha256 mismatch (corrupted or truncated)")
    return info
