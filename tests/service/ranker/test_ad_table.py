"""The ad table's ids as numpy bytes: every id found at its row, nothing else found, whatever the ids look like."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.ranker.ad_table import AdTable, fixed_width_ids

ids_strategy = st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                                max_size=12), unique=True, max_size=60)


@settings(max_examples=150, deadline=None)
@given(ids=ids_strategy, probes=st.lists(st.text(max_size=14), max_size=20))
def test_rows_of_agrees_with_a_dict(ids, probes):
    table = AdTable.from_ids(ids, [1.0] * len(ids), [0.5] * len(ids))
    reference = {ad_id: row for row, ad_id in enumerate(ids)}
    asked = ids + probes
    assert table.rows_of(asked).tolist() == [reference.get(x, -1) for x in asked]
    assert [table.ad_id(r) for r in range(len(ids))] == ids
    assert len(table) == len(ids)


def test_ids_longer_than_any_stored_or_with_nul_are_not_found():
    table = AdTable.from_ids(["ad1", "ad22"], [1, 2], [0.1, 0.2])
    assert table.rows_of(["ad22x", "ad2", "ad1\x00", "", "ad22"]).tolist() == [-1, -1, -1, -1, 1]
    assert "ad1" in table and "ad12" not in table


def test_empty_table_finds_nothing():
    table = AdTable.from_ids([], [], [])
    assert len(table) == 0 and table.rows_of(["x"]).tolist() == [-1] and table.rows_of([]).tolist() == []


def test_chunked_and_sliced_arrow_columns_keep_their_rows():
    column = pa.chunked_array([pa.array(["zz", "a", "mm"]).slice(1), pa.array(["bb", "é-ü"])])
    assert [x.decode() for x in fixed_width_ids(column)] == ["a", "mm", "bb", "é-ü"]


@pytest.mark.parametrize("ids, message", [(["a", None], "nulls"), (["a", "b\x00c"], "NUL")])
def test_unusable_ids_are_refused(ids, message):
    with pytest.raises(ValueError, match=message):
        fixed_width_ids(pa.array(ids, pa.string()))


def test_read_from_parquet(tmp_path):
    path = tmp_path / "ads.parquet"
    pq.write_table(pa.table({"ad_id": ["b", "a", "c"], "bid": [1.0, 2.0, 3.0], "p_click": [0.1, 0.2, 0.3],
                             "title": ["x", "y", "z"]}), path, row_group_size=2)
    table = AdTable.read(path)
    assert table.rows_of(["a", "b", "c", "d"]).tolist() == [1, 0, 2, -1]
    assert table.bid.dtype == np.float64 and table.p_click.tolist() == [0.1, 0.2, 0.3]
