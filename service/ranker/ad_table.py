"""The ad table's serving columns, held as numpy arrays: no Python object per ad.

A bundle loads beside live traffic, and the GIL is what it must not take from the request threads. A million ad
ids made into Python strings plus an id → row dict held the GIL for about a second of the loading thread's time
(py-spy, 1M-ad ad-only swap at 200 req/s: 0.7 s in the dict updates alone), and the loader runs niced, so the
scheduler stretched each hold while request threads waited: a 1.1 s stall in the swap's seconds. Here the ids are
one fixed-width bytes array (UTF-8) built column by column from Arrow's buffers, and id → row is a binary search
over a sorted copy: a handful of numpy calls, the sort with the GIL released. It is also 4–5 times smaller.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def fixed_width_ids(column) -> np.ndarray:
    """An Arrow string column as a numpy `S<width>` array of its UTF-8 bytes (width: the longest id, at least 1).
    Raises ValueError for nulls or a NUL byte (numpy's fixed-width bytes cannot tell trailing NULs apart)."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    arr = arr.cast(pa.large_binary())
    n = len(arr)
    if arr.null_count:
        raise ValueError("ad_id has nulls")
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    width = max(int(lengths.max()) if n else 0, 1)
    if n and (data[offsets[0] : offsets[-1]] == 0).any():
        raise ValueError("an ad_id contains a NUL character")
    out = np.zeros((n, width), dtype=np.uint8)
    for j in range(width):  # one byte position at a time: O(width) vectorised steps, no per-id Python work
        has = lengths > j
        out[has, j] = data[starts[has] + j]
    return out.view(f"S{width}").reshape(n)


class AdTable:
    """Row i ↔ FAISS id i ↔ stored vector i: the ids (`ad_id(row)`, `rows_of(ids)`), bid and p_click."""

    def __init__(self, ids: np.ndarray, bid: np.ndarray, p_click: np.ndarray) -> None:
        self._ids = ids
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]
        self.bid = bid
        self.p_click = p_click

    @classmethod
    def read(cls, path: Path) -> AdTable:
        import pyarrow.parquet as pq

        from service.bundle.manifest import SERVING_AD_COLUMNS

        # One thread: Arrow's pool would take both cores from the serving threads while it decodes.
        return cls.from_arrow(pq.read_table(path, columns=list(SERVING_AD_COLUMNS), use_threads=False))

    @classmethod
    def from_arrow(cls, table) -> AdTable:
        """From a pyarrow Table with the serving columns (ad_id, bid, p_click), as bundle verification returns it."""
        return cls(fixed_width_ids(table.column("ad_id")), table.column("bid").to_numpy().astype(np.float64),
                   table.column("p_click").to_numpy().astype(np.float64))

    @classmethod
    def from_ids(cls, ad_ids: Sequence[str], bid: Sequence[float], p_click: Sequence[float]) -> AdTable:
        import pyarrow as pa

        return cls(fixed_width_ids(pa.array(list(ad_ids), pa.string())), np.asarray(bid, np.float64),
                   np.asarray(p_click, np.float64))

    def __len__(self) -> int:
        return len(self._ids)

    def ad_id(self, row: int) -> str:
        return self._ids[row].decode()

    def rows_of(self, ad_ids: Sequence[str]) -> np.ndarray:
        """The row of each id (int64), -1 where the table does not hold it."""
        width = self._ids.dtype.itemsize
        encoded = [s.encode() for s in ad_ids]
        # numpy truncates an id longer than every stored one, and one with a NUL pads like a shorter one: either
        # could equal another's bytes, so neither may match
        fits = np.array([len(b) <= width and b"\x00" not in b for b in encoded], dtype=bool)
        keys = np.array(encoded, dtype=f"S{width}")
        if len(self._sorted) == 0:
            return np.full(len(keys), -1, np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        found = fits & (self._sorted[pos] == keys)
        return np.where(found, self._order[pos], -1).astype(np.int64)

    def __contains__(self, ad_id: str) -> bool:
        return bool(self.rows_of([ad_id])[0] >= 0)
