"""Where load-test queries come from: a file (one per line), the QADSM TSV by path, or a built-in mix.

QADSM rows are research-only: they are read at run time from the path given, never stored in the repo.
"""

from __future__ import annotations

import random
from pathlib import Path

# Project-made German shopping queries (written for this project; no dataset rows).
HEAD_WORDS = [
    "laufschuhe", "winterjacke", "fahrrad", "kaffeemaschine", "handy", "sofa", "matratze", "rucksack",
    "gartenmoebel", "staubsauger", "kinderwagen", "fernseher", "kopfhoerer", "waschmaschine", "zelt",
    "bohrmaschine", "ferienwohnung", "mietwagen", "flug", "hotel", "brille", "uhr", "parfum", "tablet",
]
_MODS = [
    "damen", "herren", "kinder", "guenstig", "test", "kaufen", "angebot", "gebraucht", "online",
    "berlin", "muenchen", "hamburg", "2024", "reduziert", "xxl", "leicht", "wasserdicht", "schwarz",
]


def builtin_queries(n: int = 500, seed: int = 0) -> list[str]:
    """`n` short German shopping queries (1–3 words) made from the project's own word lists."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(HEAD_WORDS)] + rng.sample(_MODS, rng.randint(0, 2))
        out.append(" ".join(words))
    return out


def read_query_file(path: str | Path) -> list[str]:
    """Queries from a text file (one per line) or a QADSM TSV (query = first tab-separated field).

    Blank lines are skipped and duplicates kept once, in file order.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"query file not found: {p}")
    seen: dict[str, None] = {}
    with p.open(encoding="utf-8", newline="") as fh:
        for line in fh:
            q = line.rstrip("\r\n").split("\t", 1)[0].strip()
            if q:
                seen.setdefault(q, None)
    if not seen:
        raise ValueError(f"query file {p} holds no queries")
    return list(seen)


def read_query_stream(path: str | Path, seed: int = 0) -> list[str]:
    """Every row's query of a file (duplicates kept: head queries repeat as often as the file has them), in a
    seeded shuffle, so a run replays the file's query frequencies rather than its row order (QADSM files group a
    query's rows together, which would flatter a cache)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"query file not found: {p}")
    with p.open(encoding="utf-8", newline="") as fh:
        rows = [q for line in fh if (q := line.rstrip("\r\n").split("\t", 1)[0].strip())]
    if not rows:
        raise ValueError(f"query file {p} holds no queries")
    random.Random(seed).shuffle(rows)
    return rows


def load_queries(path: str | Path | None, limit: int | None = None, seed: int = 0) -> list[str]:
    """The query pool for a run: from `path` when given, else the built-in mix; optionally `limit` of them."""
    qs = read_query_file(path) if path else builtin_queries(seed=seed)
    if limit is not None and limit < len(qs):
        qs = random.Random(seed).sample(qs, limit)
    return qs
