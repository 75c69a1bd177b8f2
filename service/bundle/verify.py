"""The file-level checks of the bundle contract: manifest, version name, checksums, vector shapes, ad table.

No ONNX Runtime or FAISS here: the checks that open the models (and the test query) are
`service.runtime.bundle_check`. Every failure raises `BundleError` whose message (and `.path`) names the file.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from service.bundle.errors import BundleError
from service.bundle.hashing import Hasher, hash_here
from service.bundle.layout import version_seq
from service.bundle.manifest import AD_COLUMNS, SERVING_AD_COLUMNS, Manifest, load_manifest

if TYPE_CHECKING:
    import pyarrow as pa


def verify_files(version_dir: str | Path) -> Manifest:
    """Validate a version directory's files (use `resolve` for a bundle root) and return its manifest."""
    d = Path(version_dir)
    manifest = load_manifest(d)
    verify_contents(d, manifest)
    return manifest


def verify_contents(d: Path, manifest: Manifest, skip_hash: Collection[str] = (),
                    hasher: Hasher = hash_here) -> pa.Table:
    """Every check of `verify_files` but reading the manifest; returns the ad table's checked serving columns
    (`SERVING_AD_COLUMNS`, a pyarrow Table). `skip_hash` names files whose content is known good another way (the
    service serves them from memory already); they must still be there."""
    if version_seq(d.name) is not None and manifest.bundle_version != d.name:
        raise BundleError(f"{d / 'manifest.json'}: bundle_version {manifest.bundle_version!r} does not match the "
                          f"directory name {d.name!r}", d / "manifest.json", reason="manifest")
    verify_checksums(d, manifest, skip_hash, hasher)
    _check_vectors(d, manifest)
    return _check_ads_table(d, manifest)


def verify_checksums(d: Path, manifest: Manifest, skip_hash: Collection[str] = (), hasher: Hasher = hash_here) -> None:
    """Every listed file present (checked first, cheaply), then the sha256 of those not in `skip_hash`."""
    for name in manifest.files:
        path = d / name
        if not path.is_file():
            raise BundleError(f"{path}: missing (listed in the manifest)", path, reason="missing_file")
    todo = [d / name for name in manifest.files if name not in skip_hash]
    digests = hasher(todo)
    for path in todo:
        if digests[path] != manifest.files[path.name]:
            raise BundleError(f"{path}: sha256 mismatch (corrupted or truncated)", path, reason="checksum")


def _check_vectors(d: Path, m: Manifest) -> None:
    path = d / m.index.vectors_file
    try:
        vecs = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: unreadable vectors ({e})", path, reason="unreadable") from e
    want = (m.index.n_ads, m.model.dim)
    if vecs.shape != want:
        raise BundleError(f"{path}: shape {vecs.shape}, manifest says {want} (n_ads, dim)", path,
                          reason="dimensions")
    if vecs.dtype != np.dtype(m.index.vectors_dtype):
        raise BundleError(f"{path}: dtype {vecs.dtype}, manifest says {m.index.vectors_dtype}", path)


def _check_ads_table(d: Path, m: Manifest) -> pa.Table:
    """The ad table's schema (every contract column, the texts as strings) and its serving columns' values; those
    columns (`SERVING_AD_COLUMNS`, a pyarrow Table) are returned for the loader to build its `AdTable` from."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = d / m.index.ads_file
    try:
        schema = pq.read_schema(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise BundleError(f"{path}: unreadable ad table ({e})", path, reason="unreadable") from e
    missing = [c for c in AD_COLUMNS if c not in schema.names]
    if missing:
        raise BundleError(f"{path}: ad table lacks column(s) {', '.join(missing)}", path, reason="unreadable")
    for name in ("ad_id", "title", "description"):
        if not (pa.types.is_string(schema.field(name).type) or pa.types.is_large_string(schema.field(name).type)):
            raise BundleError(f"{path}: ad table column {name} is {schema.field(name).type}, not a string", path)
    try:
        # Only the columns serving holds: the texts' content is covered by the checksum, and decoding them beside
        # live traffic is loader work for nothing (1M-ad synthetic table, short texts: 218 → 74 ms of CPU, 86 → 30
        # MB). One thread: Arrow's pool (started at normal priority) would take both cores from the serving threads.
        table = pq.read_table(path, columns=list(SERVING_AD_COLUMNS), use_threads=False)
    except Exception as e:
        raise BundleError(f"{path}: unreadable ad table ({e})", path, reason="unreadable") from e
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
    return table
