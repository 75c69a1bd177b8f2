"""Checks that decide whether a bundle may be served: checksums, dimensions, ids, and a test query.

Every failure raises `BundleError` whose message (and `.path`) names the offending file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.bundle.errors import BundleError
from service.bundle.layout import sha256_file, version_seq
from service.bundle.manifest import AD_COLUMNS, Manifest, load_manifest


def verify_bundle(version_dir: str | Path, check_models: bool = True) -> Manifest:
    """Validate a version directory and return its manifest.

    Args:
        version_dir: a bundle version directory (use `resolve` for a bundle root).
        check_models: also open the ONNX files and the FAISS index to check names and dimensions.
    """
    d = Path(version_dir)
    manifest = load_manifest(d)
    if version_seq(d.name) is not None and manifest.bundle_version != d.name:
        raise BundleError(f"{d / 'manifest.json'}: bundle_version {manifest.bundle_version!r} does not match the "
                          f"directory name {d.name!r}", d / "manifest.json")
    verify_checksums(d, manifest)
    _check_vectors(d, manifest)
    _check_ads_table(d, manifest)
    if check_models:
        _check_index(d, manifest)
        _check_onnx(d, manifest)
        _check_tokenizer(d, manifest)
    return manifest


def verify_checksums(d: Path, manifest: Manifest) -> None:
    for name, digest in manifest.files.items():
        path = d / name
        if not path.is_file():
            raise BundleError(f"{path}: missing (listed in the manifest)", path)
        if sha256_file(path) != digest:
            raise BundleError(f"{path}: sha256 mismatch (corrupted or truncated)", path)


def _check_vectors(d: Path, m: Manifest) -> None:
    path = d / m.index.vectors_file
    try:
        vecs = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: unreadable vectors ({e})", path) from e
    want = (m.index.n_ads, m.model.dim)
    if vecs.shape != want:
        raise BundleError(f"{path}: shape {vecs.shape}, manifest says {want} (n_ads, dim)", path)
    if vecs.dtype != np.dtype(m.index.vectors_dtype):
        raise BundleError(f"{path}: dtype {vecs.dtype}, manifest says {m.index.vectors_dtype}", path)


def _check_ads_table(d: Path, m: Manifest) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = d / m.index.ads_file
    try:
        table = pq.read_table(path, columns=list(AD_COLUMNS))
    except Exception as e:  # pyarrow raises several types for a bad file or a missing column
        raise BundleError(f"{path}: unreadable ad table ({e})", path) from e
    if table.num_rows != m.index.n_ads:
        raise BundleError(f"{path}: {table.num_rows} rows, manifest says n_ads={m.index.n_ads}", path)
    ids = table.column("ad_id")
    if ids.null_count or pc.count_distinct(ids).as_py() != table.num_rows:
        raise BundleError(f"{path}: ad_id is not unique and non-null", path)
    bid, p_click = table.column("bid"), table.column("p_click")
    if bid.null_count or table.num_rows and pc.min(bid).as_py() < 0:
        raise BundleError(f"{path}: bid must be >= 0", path)
    if p_click.null_count or table.num_rows and not (0 <= pc.min(p_click).as_py() <= pc.max(p_click).as_py() <= 1):
        raise BundleError(f"{path}: p_click must lie in [0, 1]", path)


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
    from service.bundle.runtime import make_session

    towers = [m.encoders.query.fp32, m.encoders.ad.fp32, m.encoders.query.int8, m.encoders.ad.int8]
    for name in filter(None, towers):
        _check_io(d / name, make_session, {"input_ids", "attention_mask"}, "embedding", m.model.dim)
    if m.heads.res is not None:
        _check_io(d / m.heads.res.file, make_session, {"q", "a"}, "logit", None)


def _check_io(path: Path, make_session, inputs: set[str], output: str, dim: int | None) -> None:
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
        raise BundleError(f"{path}: output dim {last}, manifest says dim={dim}", path)


def _check_tokenizer(d: Path, m: Manifest) -> None:
    from tokenizers import Tokenizer

    path = d / m.tokenizer
    try:
        Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on a bad file
        raise BundleError(f"{path}: not a loadable tokenizers file ({e})", path) from e
