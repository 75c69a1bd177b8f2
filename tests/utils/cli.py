"""Assertions on `twinrank` command results shared by the CLI tests."""

from __future__ import annotations


def assert_one_line_error(result, *needles: str) -> None:
    """Exit code 1 and a single `error: …` line naming each of `needles`, never a traceback."""
    assert result.exit_code == 1, result.output
    out = result.output.strip()
    assert out.startswith("error: ") and "\n" not in out and "Traceback" not in out, out
    for n in needles:
        assert n in out, out
