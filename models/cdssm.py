"""Baseline student: CDSSM (convolutional DSSM) over letter-trigram word hashing.

Each word becomes a bag of hashed letter trigrams (`#wo`, `wor`, `rd#`); a convolution over a window of
three words, max-pooling over positions and a tanh layer give a semantic vector per text.
"""

from __future__ import annotations

import re
import zlib

import torch
import torch.nn.functional as F
from torch import nn

from models.heads import CosHead
from models.text import fold_umlauts

WORD = re.compile(r"\w+", re.UNICODE)


def letter_trigrams(word: str) -> list[str]:
    w = f"#{word}#"
    return [w[i : i + 3] for i in range(len(w) - 2)]


class TrigramHasher:
    """Text → (n_words, trigram ids); queries spell umlauts out, so ads are folded the same way."""

    def __init__(self, buckets: int = 2**16, max_words: int = 24) -> None:
        self.buckets = buckets
        self.max_words = max_words

    def words(self, text: str) -> list[str]:
        return WORD.findall(fold_umlauts(text))[: self.max_words] or ["<empty>"]

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat trigram ids, per-word offsets for EmbeddingBag, and (batch, max_words) word→bag index (-1 pad)."""
        ids, offsets, layout = [], [], []
        for text in texts:
            row = []
            for word in self.words(text):
                offsets.append(len(ids))
                ids.extend(zlib.crc32(t.encode()) % self.buckets for t in letter_trigrams(word))
                row.append(len(offsets) - 1)
            layout.append(row)
        width = max(len(r) for r in layout)
        index = torch.full((len(texts), width), -1, dtype=torch.long)
        for i, row in enumerate(layout):
            index[i, : len(row)] = torch.tensor(row)
        return torch.tensor(ids), torch.tensor(offsets), index


class CDSSMTower(nn.Module):
    def __init__(self, buckets: int, word_dim: int = 128, conv_dim: int = 256, out_dim: int = 128) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(buckets, word_dim, mode="sum")
        self.conv = nn.Conv1d(word_dim, conv_dim, kernel_size=3, padding=1)
        self.out = nn.Linear(conv_dim, out_dim)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        words = self.bag(ids, offsets)
        pad = torch.zeros(1, words.shape[1], dtype=words.dtype)
        seq = torch.cat([words, pad])[index]  # index -1 → the zero pad row
        h = torch.tanh(self.conv(seq.transpose(1, 2)))
        h = h.masked_fill((index < 0).unsqueeze(1), -1.0)
        pooled = h.max(dim=-1).values
        return F.normalize(torch.tanh(self.out(pooled)), dim=-1)


class CDSSM(nn.Module):
    def __init__(self, buckets: int = 2**16, out_dim: int = 128) -> None:
        super().__init__()
        self.hasher = TrigramHasher(buckets)
        self.query_tower = CDSSMTower(buckets, out_dim=out_dim)
        self.ad_tower = CDSSMTower(buckets, out_dim=out_dim)
        self.cos_head = CosHead(scale=5.0, bias=0.0)

    def encode(self, route: str, texts: list[str]) -> torch.Tensor:
        tower = self.query_tower if route == "query" else self.ad_tower
        return tower(*self.hasher(texts))

    def forward(self, queries: list[str], ads: list[str]) -> torch.Tensor:
        return self.cos_head(self.encode("query", queries), self.encode("ad", ads))
