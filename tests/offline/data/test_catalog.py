"""Catalog reader: the three formats agree, blocks stream, and every bad row is named by row and column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline.data.catalog import iter_blocks, scan_catalog
from offline.errors import CatalogError
from tests.utils.bundles import catalog_rows, write_jsonl


def _write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        return write_jsonl(path, rows)
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return path
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_formats_read_the_same_rows_in_blocks(tmp_path: Path, suffix: str) -> None:
    rows = catalog_rows(25)
    rows[0]["title"] = "Gartenmöbel – 20 % günstiger, \"Sale\""
    path = _write(tmp_path / f"ads{suffix}", rows)
    blocks = list(iter_blocks(path, block_size=10))
    assert [len(b) for b in blocks] == [10, 10, 5] and [b.start for b in blocks] == [0, 10, 20]
    got = [dict(ad_id=a, title=t, description=d, bid=b, p_click=p) for blk in blocks
           for a, t, d, b, p in zip(blk.ad_id, blk.title, blk.description, blk.bid, blk.p_click, strict=True)]
    assert got == rows
    assert scan_catalog(path) == 25


def _error(tmp_path: Path, rows: list[dict] | str, suffix: str = ".jsonl") -> str:
    path = tmp_path / f"c{suffix}"
    if isinstance(rows, str):
        path.write_text(rows)
    else:
        _write(path, rows)
    with pytest.raises(CatalogError) as e:
        scan_catalog(path)
    return str(e.value)


@pytest.mark.parametrize(("change", "needles"), [
    ({"bid": -0.5}, ["row 4", "'bid'", ">= 0"]),
    ({"bid": float("nan")}, ["row 4", "'bid'", "finite"]),
    ({"bid": "abc"}, ["row 4", "'bid'", "number"]),
    ({"p_click": 1.5}, ["row 4", "'p_click'", "[0, 1]"]),
    ({"p_click": float("inf")}, ["row 4", "'p_click'", "finite"]),
    ({"ad_id": ""}, ["row 4", "'ad_id'"]),
    ({"title": None}, ["row 4", "'title'"]),
])
def test_bad_values_name_row_and_column(tmp_path: Path, change: dict, needles: list[str]) -> None:
    rows = catalog_rows(6)
    rows[3].update(change)
    msg = _error(tmp_path, rows)
    assert all(n in msg for n in needles), msg


def test_missing_column(tmp_path: Path) -> None:
    rows = catalog_rows(3)
    del rows[1]["p_click"]
    assert "row 2: column 'p_click' is missing" in _error(tmp_path, rows)
    rows = [{k: v for k, v in r.items() if k != "bid"} for r in catalog_rows(3)]
    assert "['bid']" in _error(tmp_path, rows, ".csv")
    assert "['bid']" in _error(tmp_path, rows, ".parquet")


def test_duplicate_ids_across_blocks(tmp_path: Path) -> None:
    rows = catalog_rows(70)
    rows[-1]["ad_id"] = rows[2]["ad_id"]
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(CatalogError, match=r"row 70: column 'ad_id': duplicate id 'ad0002' \(first at row 3\)"):
        scan_catalog(path, block_size=16)


def test_csv_non_finite_and_bad_json(tmp_path: Path) -> None:
    rows = catalog_rows(3)
    rows[2]["bid"] = "inf"
    assert "row 3" in _error(tmp_path, rows, ".csv")
    text = json.dumps(catalog_rows(1)[0]) + "\n{not json\n"
    assert "row 2: invalid JSON" in _error(tmp_path, text)
    assert "no rows" in _error(tmp_path, "")
    (tmp_path / "ads.txt").write_text("x")
    with pytest.raises(CatalogError, match="unknown catalog format"):
        scan_catalog(tmp_path / "ads.txt")
