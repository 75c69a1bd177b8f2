"""Whether a bundle may be served, checked with the runtime that serves it: the contract's file checks, then
the FAISS index, ONNX graphs and tokenizer opened, and a test query end to end (encode, search, the
calibrated head the service uses, and a re-encode of a few stored ads).

Every failure raises `BundleError` whose message (and `.path`) names the offending file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.bundle.errors import BundleError
from service.bundle.manifest import Manifest, ad_text, load_manifest
from service.bundle.verify import verify_files
from service.runtime.heads import ResHead, calibrate, cos_logits
from service.runtime.index import AdIndex, dequantize
from service.runtime.onnx_model import CPU, OnnxModel, make_session
from service.runtime.towers import OnnxTower

# Stored float32 vectors come from the same ONNX graph, so only batch-padding noise separates them;
# 8-bit vectors carry up to scale/2 per coordinate of rounding error.
_MIN_COS = {"float32": 0.999, "int8": 0.98}


def verify_bundle(version_dir: str | Path) -> Manifest:
    """The file checks of `verify_files`, plus the index, every ONNX graph and the tokenizer opened and checked
    for names and dimensions; returns the manifest."""
    d = Path(version_dir)
    manifest = verify_files(d)
    _check_index(d, manifest)
    _check_onnx(d, manifest)
    _check_tokenizer(d, manifest)
    return manifest


def smoke_test(version_dir: str | Path, manifest: Manifest | None = None, query: str = "laufschuhe damen",
               n_check: int = 4, threads: int = 1) -> dict:
    """Run one query end to end and check stored ad vectors against the ad encoder; returns a summary."""
    d = Path(version_dir)
    m = manifest or load_manifest(d)
    import pyarrow.parquet as pq

    q = OnnxTower.from_manifest(d, m, "query", threads=threads).encode([query])
    _check_unit(q, d / m.encoders.query.file("fp32"), m.model.dim)
    index = AdIndex(d / m.index.file, m.model.dim, m.index.n_ads, dict(m.index.search_params))
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
    relevance = calibrate(_head_logits(d, m, q[0], a), m.calibration)
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
    """The logits of the calibrated head for query vector q (dim,) against ads a (n, dim), as the service scores."""
    if m.calibration.head == "res":
        if m.heads.res is None:
            raise BundleError(f"{d / 'manifest.json'}: calibration uses the res head, but heads.res is null", d)
        return ResHead(OnnxModel(d / m.heads.res.file, CPU, 1, 1, ("q", "a")))(q, a)
    return cos_logits(q, a, m.heads.cos.scale, m.heads.cos.bias)


def _check_index(d: Path, m: Manifest) -> None:
    import faiss

    path = d / m.index.file
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        raise BundleError(f"{path}: unreadable FAISS index ({str(e).splitlines()[0]})", path) from e
    if index.d != m.model.dim:
        raise BundleError(f"{path}: index dim {index.d}, manifest says dim={m.model.dim}", path)
    if index.ntotal != m.index.n_ads:
        raise BundleError(f"{path}: index holds {index.ntotal} vectors, manifest says n_ads={m.index.n_ads}", path)
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise BundleError(f"{path}: index metric is not inner product", path)


def _check_onnx(d: Path, m: Manifest) -> None:
    towers = [m.encoders.query.fp32, m.encoders.ad.fp32, m.encoders.query.int8, m.encoders.ad.int8]
    for name in filter(None, towers):
        _check_io(d / name, {"input_ids", "attention_mask"}, "embedding", m.model.dim)
    if m.heads.res is not None:
        _check_io(d / m.heads.res.file, {"q", "a"}, "logit", None, input_dim=m.model.dim)


def _check_io(path: Path, inputs: set[str], output: str, dim: int | None, input_dim: int | None = None) -> None:
    try:
        sess = make_session(path)
    except Exception as e:  # ORT raises its own exception types for bad or truncated models
        raise BundleError(f"{path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})", path) from e
    got_in = {i.name for i in sess.get_inputs()}
    outs = {o.name: o.shape for o in sess.get_outputs()}
    if got_in != inputs or output not in outs:
        raise BundleError(f"{path}: inputs {sorted(got_in)} / outputs {sorted(outs)}, want {sorted(inputs)} / "
                          f"[{output!r}]", path)
    last = outs[output][-1] if outs[output] else None
    if dim is not None and isinstance(last, int) and last != dim:
        raise BundleError(f"{path}: output dim {last}, manifest says dim={dim}", path, reason="dimensions")
    for i in sess.get_inputs():  # a head of another width loads fine and fails only on the first request
        width = i.shape[-1] if i.shape else None
        if input_dim is not None and isinstance(width, int) and width != input_dim:
            raise BundleError(f"{path}: input {i.name!r} has width {width}, manifest says dim={input_dim}", path,
                              reason="dimensions")


def _check_tokenizer(d: Path, m: Manifest) -> None:
    from tokenizers import Tokenizer

    path = d / m.tokenizer
    try:
        Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on a bad file
        raise BundleError(f"{path}: not a loadable tokenizers file ({e})", path) from e
