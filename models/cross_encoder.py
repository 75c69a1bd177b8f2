"""Teacher cross-encoder: one transformer pass over `query </s> title description`, a linear head on the
pooled state, one relevance logit per pair."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from models.pretrained import resolve_base, text_prefixes
from models.text import TextTokenizer


class CrossEncoder(nn.Module):
    def __init__(self, encoder: nn.Module, tokenizer_dir: Path, query_prefix: str = "", max_len: int = 96) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, 1)
        self.tokenizer_dir = Path(tokenizer_dir)
        self.query_prefix = query_prefix
        self.max_len = max_len

    @classmethod
    def from_base(cls, base: str, max_len: int = 96) -> CrossEncoder:
        base_dir = resolve_base(base)
        q_prefix, _ = text_prefixes(base_dir)
        return cls(AutoModel.from_pretrained(base_dir, add_pooling_layer=False), base_dir, q_prefix, max_len)

    def tokenize(self, queries: list[str], ads: list[str]) -> dict[str, torch.Tensor]:
        return TextTokenizer.from_dir(self.tokenizer_dir, self.query_prefix, self.max_len)(queries, pair=ads)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.head(pooled).squeeze(-1)

    def score(self, queries: list[str], ads: list[str]) -> torch.Tensor:
        return self(**self.tokenize(queries, ads))

    def save(self, out: str | Path) -> None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), out / "model.pt")
        (out / "cross_encoder.json").write_text(json.dumps({
            "encoder_config": self.encoder.config.to_dict(), "query_prefix": self.query_prefix,
            "max_len": self.max_len}))
        (out / "tokenizer.json").write_bytes((self.tokenizer_dir / "tokenizer.json").read_bytes())

    @classmethod
    def load(cls, path: str | Path) -> CrossEncoder:
        path = Path(path)
        meta = json.loads((path / "cross_encoder.json").read_text())
        enc = dict(meta["encoder_config"])
        config = AutoConfig.for_model(enc.pop("model_type", "bert"), **enc)
        model = cls(AutoModel.from_config(config, add_pooling_layer=False), path, meta["query_prefix"], meta["max_len"])
        model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
        return model.eval()
