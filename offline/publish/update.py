"""`twinrank index update`: a new bundle version from the current one plus upserts and deletes.

Rows keep their stored vectors unless the ad text (title, description) changed; only new or changed ads
go through the ad encoder. An update that only appends ads (no delete, no changed text) adds them to a copy of
the current index: at 1M ads an HNSW rebuild took 246 s on one core for 20 new ads. Any other update rebuilds the
index from the vectors, which keeps HNSW free of tombstones and rows aligned with FAISS ids. The current version
is only read, never written. If another writer switches CURRENT first, the update is re-applied onto the new
CURRENT (a rebase) rather than published over it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offline.data.catalog import AdBlock, iter_blocks, scan_catalog
from offline.errors import CatalogError, PublishConflict
from offline.publish.bundle_writer import DEFAULT_KEEP, link_or_copy, publish, staging_dir
from offline.publish.encode_catalog import encode_blocks, open_vectors
from offline.publish.index_build import ANN_FACTORY, append_to_index, choose_factory, resolve_ivf, write_index
from offline.publish.index_shards import large_factory
from service.bundle import CURRENT_NAME, BundleError, Manifest, current_version_dir, read_current, verify_files
from service.runtime.index import dequantize
from service.runtime.towers import OnnxTower

log = logging.getLogger(__name__)
AUTO_FACTORIES = ("Flat", ANN_FACTORY, "HNSW32")  # HNSW32: the size-based choice of earlier releases


def auto_chosen(factory: str, n_ads: int, dim: int) -> bool:
    """Whether a bundle's index kind is the one chosen by size (then an update chooses again for the new size,
    e.g. HNSW → IVF past HNSW_MAX_ADS, or a new IVF list count), rather than one a user asked for (kept)."""
    return factory in AUTO_FACTORIES or factory == resolve_ivf(large_factory(n_ads, dim), n_ads)
MAX_ATTEMPTS = 8  # tries before an update gives up on a CURRENT that other writers keep moving


@dataclass
class UpdateResult:
    version_dir: Path
    n_ads: int
    n_reused: int
    n_encoded: int  # ads the tower encoded, over all attempts (a rebase does not encode an ad twice)
    n_deleted: int
    unknown_deletes: list[str]
    n_rebases: int = 0  # times CURRENT moved under this update and its changes were re-applied onto the new one


# Makes the ad encoder for a version (its directory and manifest); anything with `encode_sorted` will do.
TowerFactory = Callable[[Path, Manifest], object]


class EncodedTexts:
    """Ad vectors this update encoded, per encoder, so a rebase onto a version with the same ad encoder does not
    encode them again. Wraps the tower's `encode_sorted`."""

    def __init__(self) -> None:
        self._by_encoder: dict[tuple, dict[str, np.ndarray]] = {}
        self.n_encoded = 0

    def tower(self, version_dir: Path, m: Manifest, threads: int,
              tower_factory: TowerFactory | None = None) -> _CachedTower:
        key = (m.files[m.encoders.ad.file("fp32")], m.files[m.tokenizer], m.model.ad_prefix, m.model.ad_max_len,
               m.model.dim)
        inner = (tower_factory(version_dir, m) if tower_factory is not None
                 else OnnxTower.from_manifest(version_dir, m, "ad", threads=threads))
        return _CachedTower(inner, self._by_encoder.setdefault(key, {}), self)


class _CachedTower:
    def __init__(self, tower, known: dict[str, np.ndarray], owner: EncodedTexts) -> None:
        self.tower, self.known, self.owner = tower, known, owner

    def encode_sorted(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        todo = sorted({t for t in texts if t not in self.known})
        if todo:
            self.known.update(zip(todo, self.tower.encode_sorted(todo, batch_size), strict=True))
            self.owner.n_encoded += len(todo)
        return np.stack([self.known[t] for t in texts])


def read_delete_ids(path: str | Path) -> set[str]:
    """One ad_id per line; blank lines and lines starting with '#' are skipped."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    return {s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")}


def update_bundle(bundles_root: str | Path, upsert_path: str | Path | None = None,
                  delete_path: str | Path | None = None, factory: str | None = None, device: str = "auto",
                  keep: int = DEFAULT_KEEP, batch_size: int = 64, threads: int = 1,
                  progress: bool = True, max_attempts: int = MAX_ATTEMPTS,
                  tower_factory: TowerFactory | None = None) -> UpdateResult:
    """Publish CURRENT + upserts − deletes as a new version (re-encoding only new or changed ads).

    `tower_factory(version_dir, manifest)`: what encodes the changed ads (anything with `encode_sorted`, e.g.
    `ray_tower.RayAdTower`); default: the bundle's own ad tower in this process.

    If another writer switches CURRENT while this runs, the upserts and deletes are re-applied onto the new
    CURRENT (its vectors reused, ads this update already encoded with the same encoder not encoded again) and
    published from there; after `max_attempts` such rebases, `PublishConflict` and nothing is published.
    """
    root = Path(bundles_root)
    deletes = read_delete_ids(delete_path) if delete_path else set()
    upserts: dict[str, tuple[str, str, float, float]] = {}
    if upsert_path:
        scan_catalog(upsert_path)
        for b in iter_blocks(upsert_path):
            upserts.update(zip(b.ad_id, zip(b.title, b.description, b.bid, b.p_click, strict=True), strict=True))
    both = sorted(deletes & upserts.keys())
    if both:
        raise CatalogError(f"ad_id(s) both upserted and deleted: {both[:5]}")
    encoded = EncodedTexts()
    for attempt in range(max_attempts):
        cur = current_version_dir(root)
        try:
            r = _update_once(root, cur, upserts, deletes, encoded, factory, device, keep, batch_size, threads,
                             progress, tower_factory)
        except PublishConflict as e:
            log.info("CURRENT moved from %s to %s while this update ran: re-applying it there", cur.name, e.current)
            continue
        except (OSError, BundleError) as e:
            if read_current(root) == cur.name:
                raise
            log.info("%s went away while read (%s) and CURRENT moved on: re-applying there", cur.name, e)
            continue
        r.n_rebases = attempt
        return r
    raise PublishConflict(f"{root / CURRENT_NAME}: kept moving, {max_attempts} attempts to apply this update lost to "
                          "other writers; nothing published (run it again)", current=read_current(root))


def _update_once(root: Path, cur: Path, upserts: dict, deletes: set[str], encoded: EncodedTexts,
                 factory: str | None, device: str, keep: int, batch_size: int, threads: int,
                 progress: bool, tower_factory: TowerFactory | None = None) -> UpdateResult:
    """Apply the update onto the version `cur` and publish it if CURRENT still names `cur`."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    m = verify_files(cur)
    old = pq.ParquetFile(cur / m.index.ads_file)
    old_ids = pq.read_table(cur / m.index.ads_file, columns=["ad_id"]).column("ad_id")
    present = set(old_ids.filter(pc.is_in(old_ids, value_set=_arr(deletes))).to_pylist()) if deletes else set()
    unknown = sorted(deletes - present)
    if unknown:
        log.warning("%d delete id(s) not in %s, ignored (e.g. %s)", len(unknown), cur.name, unknown[:3])
    known = set(old_ids.filter(pc.is_in(old_ids, value_set=_arr(upserts))).to_pylist()) if upserts else set()
    new_ids = [a for a in upserts if a not in known]
    n = len(old_ids) - len(present) + len(new_ids)
    if n == 0:
        raise CatalogError("the update would leave the bundle with no ads")
    old_vecs = np.load(cur / m.index.vectors_file, mmap_mode="r")
    old_rows: dict[int, np.ndarray] = {}
    blocks = _merged_blocks(old, deletes, upserts, new_ids, old_rows)
    reused = [0]

    def reuse(block: AdBlock) -> tuple[np.ndarray, np.ndarray]:
        rows = old_rows.pop(block.start)
        have = rows >= 0
        reused[0] += int(have.sum())
        return have, dequantize(np.asarray(old_vecs[rows[have]]), m.index.vectors_scale)

    with staging_dir(root) as staging:
        for name in set(m.files) - {m.index.file, m.index.ads_file, m.index.vectors_file}:
            link_or_copy(cur / name, staging / name)
        vectors = open_vectors(staging / m.index.vectors_file, n, m.model.dim, m.index.vectors_dtype)
        encode_blocks(encoded.tower(cur, m, threads, tower_factory), blocks, n, vectors, staging / m.index.ads_file,
                      m.model.ad_separator, batch_size, reuse=reuse, progress=progress)
        if factory is None:
            by_size = auto_chosen(m.index.factory, m.index.n_ads, m.model.dim)
            factory = choose_factory(n, None, m.model.dim)[0] if by_size else m.index.factory
        # Every old row kept, in its order, with its vector: the new rows only append to the old index.
        appends_only = not present and reused[0] == m.index.n_ads and factory == m.index.factory
        if appends_only:
            index_info = append_to_index(staging, cur / m.index.file, m.index.model_dump(), vectors)
        else:
            index_info = write_index(staging, vectors, factory, m.index.vectors_dtype, device)
        del vectors
        fields = m.model_dump(exclude={"bundle_version", "created_at", "files", "parent_version", "index"})
        version = publish(staging, fields | {"index": index_info}, parent=cur.name, keep=keep)
    return UpdateResult(version, n, reused[0], encoded.n_encoded, len(present), unknown)


def _arr(values):
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


def _merged_blocks(old, deletes: set[str], upserts: dict, new_ids: list[str], old_rows: dict[int, np.ndarray],
                   block_size: int = 8192) -> Iterator[AdBlock]:
    """Blocks of the new table: old rows (minus deletes, upserts applied), then new ads.

    Fills `old_rows[block.start]` with, per row, the old row whose vector can be reused (text unchanged), or -1.
    """
    buf: dict[str, list] = {"ad_id": [], "title": [], "description": [], "bid": [], "p_click": [], "src": []}
    start = 0

    def flush() -> AdBlock:
        nonlocal start
        block = AdBlock(start, buf["ad_id"], buf["title"], buf["description"],
                        np.asarray(buf["bid"], dtype=np.float64), np.asarray(buf["p_click"], dtype=np.float64))
        old_rows[start] = np.asarray(buf["src"], dtype=np.int64)
        start += len(block)
        for k in buf:
            buf[k] = []
        return block

    def push(ad_id: str, title: str, desc: str, bid: float, p_click: float, src: int) -> None:
        for k, v in zip(buf, (ad_id, title, desc, bid, p_click, src), strict=True):
            buf[k].append(v)

    row = 0
    for batch in old.iter_batches(batch_size=block_size, columns=["ad_id", "title", "description", "bid", "p_click"]):
        for r in batch.to_pylist():
            a = r["ad_id"]
            if a not in deletes:
                if a in upserts:
                    t, d, bid, pc = upserts[a]
                    push(a, t, d, bid, pc, row if (t, d) == (r["title"], r["description"]) else -1)
                else:
                    push(a, r["title"], r["description"], r["bid"], r["p_click"], row)
            row += 1
            if len(buf["ad_id"]) >= block_size:
                yield flush()
    for a in new_ids:
        t, d, bid, pc = upserts[a]
        push(a, t, d, bid, pc, -1)
        if len(buf["ad_id"]) >= block_size:
            yield flush()
    if buf["ad_id"]:
        yield flush()


__all__ = ["BundleError", "UpdateResult", "read_delete_ids", "update_bundle"]
