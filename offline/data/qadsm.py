"""XGLUE QADSM query–ad pairs: the one reader of the TSV files (query, title, description, Good/Bad; LF or
CRLF), the HF `xglue`/`qadsm` dataset for users with hub access, and the text helpers over pairs.

The rows are research-only: they are read by path at run time and never copied into the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offline.errors import DataError
from service.bundle.manifest import ad_text

LABELS = {"Good": 1, "Bad": 0}


@dataclass
class Pairs:
    """Query–ad pairs as parallel lists; `label` is 1/0, or -1 where unlabelled."""

    query: list[str]
    title: list[str]
    description: list[str]
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.query)

    def subset(self, idx: np.ndarray | list[int]) -> Pairs:
        return Pairs([self.query[i] for i in idx], [self.title[i] for i in idx],
                     [self.description[i] for i in idx], self.label[np.asarray(idx, dtype=int)])

    @property
    def ads(self) -> list[tuple[str, str]]:
        return list(zip(self.title, self.description, strict=True))


def read_tsv(path: str | Path, limit: int | None = None) -> Pairs:
    """Read a QADSM TSV file (LF or CRLF); a malformed line raises `DataError` naming file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    q, t, d, y = [], [], [], []

    def bad(lineno: int, reason: str) -> DataError:
        return DataError(f"{path}:{lineno}: {reason}", path, lineno, reason)

    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 4:
                raise bad(lineno, f"expected 4 tab-separated fields, found {len(fields)}")
            label = fields[3].strip()
            if label not in LABELS:
                raise bad(lineno, f"label must be Good or Bad, found {label!r}")
            if not fields[0].strip():
                raise bad(lineno, "empty query")
            q.append(fields[0].strip())
            t.append(fields[1].strip())
            d.append(fields[2].strip())
            y.append(LABELS[label])
            if limit and len(q) >= limit:
                break
    if not q:
        raise DataError(f"{path}: no rows")
    return Pairs(q, t, d, np.asarray(y, dtype=np.int8))


def read_split(data: str | Path, split: str, limit: int | None = None) -> Pairs:
    """A split from a directory of `{train,dev,test}.txt`, or from the hub as `hf:xglue/qadsm/<lang>`."""
    data = str(data)
    if data.startswith("hf:"):
        return read_hf(data.removeprefix("hf:"), split, limit)
    return read_tsv(Path(data) / f"{split}.txt", limit)


def read_hf(spec: str, split: str, limit: int | None = None) -> Pairs:
    """`xglue/qadsm/de` → the HF `xglue` dataset, config `qadsm`, split `<split>.de` (needs hub access)."""
    parts = spec.split("/")
    if len(parts) != 3:
        raise DataError(f"hub spec must look like xglue/qadsm/de, got {spec!r}")
    name, config, lang = parts
    try:
        from datasets import load_dataset

        ds = load_dataset(name, config, split=f"{'validation' if split == 'dev' else split}.{lang}")
    except Exception as exc:  # no datasets package, no network, unknown split
        raise DataError(f"could not load {spec} split {split} from the hub: {exc}") from exc
    rows = ds.select(range(min(limit, len(ds)))) if limit else ds
    label_names = rows.features["relavance_label"].names if "relavance_label" in rows.features else ["Bad", "Good"]
    y = [LABELS[label_names[v]] for v in rows["relavance_label"]]
    return Pairs(list(rows["query"]), list(rows["ad_title"]), list(rows["ad_description"]), np.asarray(y, np.int8))


def unique_index(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Unique texts (first-seen order) and, per input, its position among them."""
    pos: dict[str, int] = {}
    idx = np.fromiter((pos.setdefault(t, len(pos)) for t in texts), dtype=np.int64, count=len(texts))
    return list(pos), idx


def pair_ad_texts(pairs: Pairs) -> list[str]:
    """The ad text of every pair, as the ad tower sees it."""
    return [ad_text(t, d) for t, d in pairs.ads]


def frame_ad_texts(frame) -> list[str]:
    """Ad texts of a pairs table (a DataFrame with `title` and `description` columns)."""
    return [ad_text(t, d) for t, d in zip(frame.title, frame.description, strict=True)]
