"""How query and ad texts are formed and tokenized; the bundle manifest records the same settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer

AD_SEPARATOR = " "
# QADSM queries spell umlauts out (ae, oe, ue, ss); surface-form matching folds ads the same way.
UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def fold_umlauts(text: str) -> str:
    """Lower-case, umlauts spelled out."""
    return text.lower().translate(UMLAUTS)


def ad_text(title: str, description: str) -> str:
    return f"{title}{AD_SEPARATOR}{description}".strip()


@dataclass
class TextTokenizer:
    """A HF `tokenizers` tokenizer with the model's prefix and length limit; returns padded tensors."""

    tokenizer: Tokenizer
    prefix: str
    max_length: int
    pad_id: int

    @classmethod
    def from_dir(cls, model_dir: str | Path, prefix: str, max_length: int) -> TextTokenizer:
        tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        pad_id = tok.token_to_id("<pad>")
        if pad_id is None:
            pad_id = tok.token_to_id("[PAD]") or 0
        return cls(tok, prefix, max_length, pad_id)

    def __call__(self, texts: list[str], pair: list[str] | None = None) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        tok.enable_truncation(self.max_length)
        tok.enable_padding(pad_id=self.pad_id)
        first = [self.prefix + t for t in texts]
        enc = tok.encode_batch(list(zip(first, pair, strict=True)) if pair is not None else first)
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}
