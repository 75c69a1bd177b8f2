"""The file-level checks of the bundle contract: manifest, version name, checksums, vector shapes, ad table.

No ONNX Runtime or FAISS here: the checks that open the models (and the test query) are
`service.runtime.bundle_check`. Every failure raises `BundleError` whose message (and `.path`) names the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.bundle.errors import BundleError
from service.bundle.layout import sha256_file, version_seq
from service.bundle.manifest import AD_COLUMNS, Manifest, load_manifest


def verify_files(version_dir: str | Path) -> Manifest:
    """Validate a version directory's files (use `resolve` for a bundle root) and return its manifest."""
    d = Path(version_dir)
    manifest = load_manifest(d)
    if version_seq(d.name) is not None and manifest.bundle_version != d.name:
        raise BundleError(f"{d / 'manifest.json'}: bundle_version {manifest.bundle_version!r} does not match the "
                          f"directory name {d.name!r}", d / "manifest.json")
    verify_checksums(d, manifest)
    _check_vectors(d, manifest)
    _check_ads_table(d, manifest)
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
