"""Tiny self-made QADSM-format data (train/dev/test.txt) for end-to-end distillation tests."""

from __future__ import annotations

import random
from pathlib import Path

TOPICS = [("laufschuhe damen", "Laufschuhe für Damen", "jetzt im Sale"),
          ("immobilien privat", "Wohnung mieten", "ohne Makler"),
          ("kinderfahrrad", "Fahrräder für Kinder", "im Online Shop"),
          ("gartenmoebel holz", "Gartenmöbel aus Holz", "günstig bestellen"),
          ("flug berlin", "Billigflüge nach Berlin", "vergleichen"),
          ("winterjacke herren", "Herren Jacken", "für den Winter")]


# The run config of a tiny ensemble teacher (`.format(base=...)`); a test appends the sections it needs.
TINY_TEACHER_CONFIG = """base = "{base}"
threads = 1
[teacher]
kind = "ensemble"
epochs = 1
cross_epochs = 1
precision = "bf16"
batch_size = 16
[pool]
multiplier = 2
neighbours = 5
"""


def make_data(root: Path) -> None:
    rng = random.Random(0)
    for split, n in [("train", 96), ("dev", 32), ("test", 48)]:
        lines = []
        for i in range(n):
            q = rng.choice(TOPICS)
            good = rng.random() < 0.5
            ad = q if good else rng.choice([t for t in TOPICS if t != q])
            lines.append(f"{q[0]} {i % 7}\t{ad[1]}\t{ad[2]} {i % 5}\t{'Good' if good else 'Bad'}")
        (root / f"{split}.txt").write_text("\r\n".join(lines) + "\r\n")
