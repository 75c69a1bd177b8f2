"""Text → padded int64 arrays, exactly as the offline side tokenizes (prefix, truncation, pad id)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def load_tokenizer(path: str | Path, max_length: int):
    """A HF `tokenizers` tokenizer truncating at `max_length` and padding to the longest in the batch."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    pad_id = tok.token_to_id("<pad>")
    if pad_id is None:
        pad_id = tok.token_to_id("[PAD]") or 0
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=pad_id)
    return tok


@dataclass
class TextEncoder:
    """A HF `tokenizers` tokenizer with one route's prefix and length limit."""

    tokenizer: object
    prefix: str
    max_length: int

    @classmethod
    def from_file(cls, path: Path, prefix: str, max_length: int) -> TextEncoder:
        return cls(load_tokenizer(path, max_length), prefix, max_length)

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Returns (input_ids, attention_mask), both int64 of shape (len(texts), longest)."""
        enc = self.tokenizer.encode_batch([self.prefix + t for t in texts])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return ids, mask
