import numpy as np
import pytest

from offline.data.qadsm import read_tsv
from offline.errors import DataError


def test_reads_crlf_and_lf(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"q1\tT1\tD1\tGood\r\nq2\tT2\tD2\tBad\r\n")
    p = read_tsv(tmp_path / "a.txt")
    assert p.query == ["q1", "q2"] and p.description == ["D1", "D2"]
    assert p.label.tolist() == [1, 0]


def test_malformed_line_names_file_and_line(tmp_path):
    f = tmp_path / "b.txt"
    f.write_text("q1\tT1\tD1\tGood\nq2\tT2\tBad\n")
    with pytest.raises(DataError, match=r"b.txt:2: expected 4 tab-separated fields, found 3"):
        read_tsv(f)


def test_bad_label_is_reported(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("q1\tT1\tD1\tMaybe\n")
    with pytest.raises(DataError, match=r"c.txt:1: label must be Good or Bad"):
        read_tsv(f)


def test_subset_keeps_alignment(tmp_path):
    f = tmp_path / "d.txt"
    f.write_text("".join(f"q{i}\tT{i}\tD{i}\t{'Good' if i % 2 else 'Bad'}\n" for i in range(6)))
    s = read_tsv(f).subset(np.array([5, 0]))
    assert s.query == ["q5", "q0"] and s.title == ["T5", "T0"] and s.label.tolist() == [1, 0]


def test_real_test_split_has_10000_rows(qadsm_dir):
    p = read_tsv(qadsm_dir / "test.txt")
    assert len(p) == 10000 and p.label.sum() == 5000
