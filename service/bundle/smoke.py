"""A test query through a bundle: encode, search, crossing heads, and a re-encode of a few stored ads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.bundle.errors import BundleError
from service.bundle.manifest import Manifest, load_manifest
from service.bundle.runtime import OnnxTower, ad_text, calibrate, cos_logits, dequantize, make_session

# Stored float32 vectors come from the same ONNX graph, so only batch-padding noise separates them;
# 8-bit vectors carry up to scale/2 per coordinate of rounding error.
_MIN_COS = {"float32": 0.999, "int8": 0.98}


def smoke_test(version_dir: str | Path, manifest: Manifest | None = None, query: str = "laufschuhe damen",
               n_check: int = 4, threads: int = 1) -> dict:
    """Run one query end to end and check stored ad vectors against the ad encoder; returns a summary."""
    d = Path(version_dir)
    m = manifest or load_manifest(d)
    import faiss
    import pyarrow.parquet as pq

    q_tower = OnnxTower.from_manifest(d, m, "query", threads=threads)
    q = q_tower.encode([query])
    _check_unit(q, d / m.encoders.query.fp32, m.model.dim)
    index = faiss.read_index(str(d / m.index.file))
    _apply_search_params(index, m.index.search_params)
    k = min(10, m.index.n_ads)
    summary: dict = {"bundle_version": m.bundle_version, "query": query, "n_ads": m.index.n_ads}
    if k == 0:
        return summary
    scores, ids = index.search(q, k)
    if (ids < 0).any() or (ids >= m.index.n_ads).any():
        raise BundleError(f"{d / m.index.file}: search returned ids outside 0..{m.index.n_ads - 1}", d / m.index.file)
    vectors = np.load(d / m.index.vectors_file, mmap_mode="r")
    table = pq.read_table(d / m.index.ads_file, columns=["ad_id", "title", "description"])
    a = dequantize(np.asarray(vectors[ids[0]]), m.index.vectors_scale)
    logits = _head_logits(d, m, np.repeat(q, k, axis=0), a)
    relevance = calibrate(logits, m.calibration)
    if not np.isfinite(relevance).all():
        raise BundleError(f"{d / (m.heads.res.file if m.heads.res else 'manifest.json')}: non-finite relevance", d)
    n = min(n_check, m.index.n_ads)
    rows = table.slice(0, n).to_pylist()
    fresh = OnnxTower.from_manifest(d, m, "ad", threads=threads).encode(
        [ad_text(r["title"], r["description"], m.model.ad_separator) for r in rows])
    stored = dequantize(np.asarray(vectors[:n]), m.index.vectors_scale)
    cos = np.sum(fresh * stored, axis=1) / np.maximum(np.linalg.norm(stored, axis=1), 1e-12)
    if cos.min() < _MIN_COS[m.index.vectors_dtype]:
        path = d / m.index.vectors_file
        raise BundleError(f"{path}: stored vectors disagree with the ad encoder (min cos {cos.min():.4f} over "
                          f"the first {n} ads)", path)
    summary.update(top_ids=[table.column("ad_id")[int(i)].as_py() for i in ids[0]],
                   top_scores=[round(float(s), 5) for s in scores[0]],
                   relevance=[round(float(r), 5) for r in relevance], stored_vs_fresh_min_cos=float(cos.min()))
    return summary


def _check_unit(v: np.ndarray, path: Path, dim: int) -> None:
    if v.shape != (1, dim) or not np.isfinite(v).all() or abs(float(np.linalg.norm(v)) - 1) > 1e-3:
        raise BundleError(f"{path}: test query gave shape {v.shape} / not a finite unit vector", path)


def _head_logits(d: Path, m: Manifest, q: np.ndarray, a: np.ndarray) -> np.ndarray:
    if m.calibration.head == "res":
        if m.heads.res is None:
            raise BundleError(f"{d / 'manifest.json'}: calibration uses the res head, but heads.res is null", d)
        sess = make_session(d / m.heads.res.file)
        return sess.run(["logit"], {"q": q.astype(np.float32), "a": a.astype(np.float32)})[0]
    return cos_logits(q, a, m.heads.cos.scale, m.heads.cos.bias)


def _apply_search_params(index, params: dict) -> None:
    import faiss

    if params:
        faiss.ParameterSpace().set_index_parameters(index, ",".join(f"{k}={v}" for k, v in params.items()))
