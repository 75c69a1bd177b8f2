"""Ad catalog reader: JSONL, CSV or Parquet with columns ad_id, title, description, bid, p_click.

Reads in blocks so memory does not grow with the catalog; every error names the file, the row (1-based,
data rows) and the column. `scan_catalog` is a cheap first pass (values and unique ids, 8 bytes per ad)
so a bad catalog fails before hours of encoding; `iter_blocks` then streams the validated rows.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offline.errors import CatalogError
from service.bundle.manifest import AD_COLUMNS

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
           ".pq": "parquet"}


@dataclass
class AdBlock:
    """Consecutive validated catalog rows; `start` is the 0-based row number of the first one."""

    start: int
    ad_id: list[str]
    title: list[str]
    description: list[str]
    bid: np.ndarray
    p_click: np.ndarray

    def __len__(self) -> int:
        return len(self.ad_id)

    def to_arrow(self):
        import pyarrow as pa

        return pa.table({"ad_id": pa.array(self.ad_id, pa.string()), "title": pa.array(self.title, pa.string()),
                         "description": pa.array(self.description, pa.string()),
                         "bid": pa.array(self.bid, pa.float64()), "p_click": pa.array(self.p_click, pa.float64())})


def catalog_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CatalogError(f"{path}: unknown catalog format {path.suffix!r} (use .jsonl, .csv or .parquet)")
    return fmt


def iter_blocks(path: str | Path, block_size: int = 8192) -> Iterator[AdBlock]:
    """Validated blocks of at most `block_size` rows, in file order."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such file")
    rows = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}[catalog_format(path)](path)
    builder = _BlockBuilder(path, 0)
    for n, row in enumerate(rows):
        builder.add(n, row)
        if len(builder.ad_id) >= block_size:
            yield builder.build()
            builder = _BlockBuilder(path, n + 1)
    if builder.ad_id:
        yield builder.build()


def scan_catalog(path: str | Path, block_size: int = 65536) -> int:
    """Validate every row and check ad_id uniqueness; returns the number of ads."""
    hashes = []
    n = 0
    for block in iter_blocks(path, block_size):
        hashes.append(np.fromiter((hash(a) for a in block.ad_id), dtype=np.int64, count=len(block)))
        n += len(block)
    if n == 0:
        raise CatalogError(f"{path}: the catalog has no rows")
    all_h = np.concatenate(hashes)
    order = np.argsort(all_h, kind="stable")
    same = np.nonzero(all_h[order][1:] == all_h[order][:-1])[0]
    if len(same):
        _report_duplicate(Path(path), {int(order[i]) for i in same} | {int(order[i + 1]) for i in same})
    return n


def _report_duplicate(path: Path, rows: set[int]) -> None:
    seen: dict[str, int] = {}
    for block in iter_blocks(path):
        for i, ad_id in enumerate(block.ad_id, start=block.start):
            if i in rows:
                if ad_id in seen:
                    raise CatalogError(f"{path}: row {i + 1}: column 'ad_id': duplicate id {ad_id!r} "
                                       f"(first at row {seen[ad_id] + 1})")
                seen[ad_id] = i


def _jsonl_rows(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        n = 0
        for line in f:
            if not line.strip():
                continue
            n += 1
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CatalogError(f"{path}: row {n}: invalid JSON ({e.msg})") from e
            if not isinstance(row, dict):
                raise CatalogError(f"{path}: row {n}: expected a JSON object, got {type(row).__name__}")
            yield row


def _csv_rows(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in AD_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError(f"{path}: header lacks column(s) {missing} (has {reader.fieldnames})")
        yield from reader


def _parquet_rows(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    missing = [c for c in AD_COLUMNS if c not in pf.schema_arrow.names]
    if missing:
        raise CatalogError(f"{path}: schema lacks column(s) {missing} (has {pf.schema_arrow.names})")
    for batch in pf.iter_batches(batch_size=65536, columns=list(AD_COLUMNS)):
        yield from batch.to_pylist()


class _BlockBuilder:
    def __init__(self, path: Path, start: int) -> None:
        self.path, self.start = path, start
        self.ad_id: list[str] = []
        self.title: list[str] = []
        self.description: list[str] = []
        self.bid: list[float] = []
        self.p_click: list[float] = []

    def add(self, n: int, row: dict, where: str | None = None) -> None:
        where = where or f"{self.path}: row {n + 1}"
        for col in AD_COLUMNS:
            if col not in row:
                raise CatalogError(f"{where}: column {col!r} is missing")
        ad_id = row["ad_id"]
        if isinstance(ad_id, int) and not isinstance(ad_id, bool):
            ad_id = str(ad_id)
        if not isinstance(ad_id, str) or not ad_id.strip():
            raise CatalogError(f"{where}: column 'ad_id': must be a non-empty string (got {ad_id!r})")
        for col in ("title", "description"):
            if not isinstance(row[col], str):
                raise CatalogError(f"{where}: column {col!r}: must be a string (got {row[col]!r})")
        if not (row["title"].strip() or row["description"].strip()):
            raise CatalogError(f"{where}: columns 'title' and 'description' are both empty")
        bid = _number(row["bid"], where, "bid")
        if bid < 0:
            raise CatalogError(f"{where}: column 'bid': must be >= 0 (got {bid})")
        p_click = _number(row["p_click"], where, "p_click")
        if not 0.0 <= p_click <= 1.0:
            raise CatalogError(f"{where}: column 'p_click': must lie in [0, 1] (got {p_click})")
        self.ad_id.append(ad_id)
        self.title.append(row["title"])
        self.description.append(row["description"])
        self.bid.append(bid)
        self.p_click.append(p_click)

    def build(self) -> AdBlock:
        seen: dict[str, int] = {}
        for i, a in enumerate(self.ad_id):
            if a in seen:
                raise CatalogError(f"{self.path}: row {self.start + i + 1}: column 'ad_id': duplicate id {a!r} "
                                   f"(first at row {self.start + seen[a] + 1})")
            seen[a] = i
        return AdBlock(self.start, self.ad_id, self.title, self.description,
                       np.asarray(self.bid, dtype=np.float64), np.asarray(self.p_click, dtype=np.float64))


def validated_block(rows: list[dict], source: str) -> AdBlock:
    """`rows` checked as catalog rows by a reader that knows no row numbers (a distributed one): errors name
    `source` and the ad. Ids must be unique within the rows; uniqueness across blocks is the caller's check."""
    builder = _BlockBuilder(Path(source), 0)
    for n, row in enumerate(rows):
        builder.add(n, row, f"{source}: ad {row.get('ad_id')!r}")
    seen: set[str] = set()
    for a in builder.ad_id:
        if a in seen:
            raise CatalogError(f"{source}: column 'ad_id': duplicate id {a!r}")
        seen.add(a)
    return AdBlock(0, builder.ad_id, builder.title, builder.description,
                   np.asarray(builder.bid, dtype=np.float64), np.asarray(builder.p_click, dtype=np.float64))


def _number(value: object, where: str, col: str) -> float:
    if isinstance(value, bool):
        raise CatalogError(f"{where}: column {col!r}: must be a number (got {value!r})")
    try:
        x = float(value)  # CSV gives strings
    except (TypeError, ValueError):
        raise CatalogError(f"{where}: column {col!r}: must be a number (got {value!r})") from None
    if not math.isfinite(x):
        raise CatalogError(f"{where}: column {col!r}: must be finite (got {value!r})")
    return x
