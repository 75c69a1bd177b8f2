"""TwinBERT: a query tower and an ad tower (shared or separate weights) with `cos` and `res` crossing heads.

The checkpoint is self-describing (ST habit): `twinbert.json` holds the architecture and text settings,
`model.pt` the weights, `tokenizer.json` the tokenizer; `TwinBERT.load(dir)` needs nothing else.
"""

from __future__ import annotations

import json
import platform
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel

from models.heads import CosHead, ResHead
from models.pretrained import resolve_base, text_prefixes
from models.text import TextTokenizer
from models.tower import Tower, layer_list, select_layers

ROUTES = ("query", "ad")


@dataclass
class TwinBERTConfig:
    base: str = "multilingual-e5-small"
    query_layers: int | list[int] = 4
    ad_layers: int | list[int] = 12
    shared: bool = False
    proj_dim: int | None = 128
    res_hidden: int = 256
    query_max_len: int = 32
    ad_max_len: int = 64
    query_prefix: str = ""
    ad_prefix: str = ""
    encoder_config: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shared and self.query_layers != self.ad_layers:
            raise ValueError("shared towers need the same layers for query and ad")


class TwinBERT(nn.Module):
    def __init__(self, config: TwinBERTConfig, query_tower: Tower, ad_tower: Tower) -> None:
        super().__init__()
        if query_tower.dim != ad_tower.dim:
            raise ValueError(f"tower dims differ: query {query_tower.dim}, ad {ad_tower.dim}")
        self.config = config
        self.query_tower = query_tower
        self.ad_tower = ad_tower
        self.cos_head = CosHead()
        self.res_head = ResHead(query_tower.dim, config.res_hidden)

    @property
    def dim(self) -> int:
        return self.query_tower.dim

    @classmethod
    def from_base(cls, config: TwinBERTConfig) -> TwinBERT:
        """Towers from chosen layers of a pretrained base encoder (name, local dir or packaged copy)."""
        base_dir = resolve_base(config.base)
        if not config.query_prefix and not config.ad_prefix:
            config.query_prefix, config.ad_prefix = text_prefixes(base_dir)
        encoder = AutoModel.from_pretrained(base_dir, add_pooling_layer=False)
        return cls.from_encoder(config, encoder, base_dir)

    @classmethod
    def from_encoder(cls, config: TwinBERTConfig, encoder: nn.Module, tokenizer_dir: str | Path) -> TwinBERT:
        total = encoder.config.num_hidden_layers
        q_layers = layer_list(config.query_layers, total)
        q_tower = Tower(select_layers(encoder, q_layers), config.proj_dim)
        a_tower = q_tower if config.shared else Tower(
            select_layers(encoder, layer_list(config.ad_layers, total)), config.proj_dim
        )
        if config.proj_dim and not config.shared:
            a_tower.projection.load_state_dict(q_tower.projection.state_dict())
        config.encoder_config = encoder.config.to_dict()
        model = cls(config, q_tower, a_tower)
        model.tokenizer_dir = Path(tokenizer_dir)
        return model

    def tower(self, route: str) -> Tower:
        if route not in ROUTES:
            raise KeyError(f"unknown tower {route!r}; towers are {ROUTES}")
        return self.query_tower if route == "query" else self.ad_tower

    def tokenizer(self, route: str) -> TextTokenizer:
        c = self.config
        prefix, max_len = (c.query_prefix, c.query_max_len) if route == "query" else (c.ad_prefix, c.ad_max_len)
        return TextTokenizer.from_dir(self.tokenizer_dir, prefix, max_len)

    def encode(self, route: str, texts: list[str]) -> torch.Tensor:
        feats = self.tokenizer(route)(texts)
        return self.tower(route)(**feats)

    def heads(self, q: torch.Tensor, a: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"cos": self.cos_head(q, a), "res": self.res_head(q, a)}

    def save(self, out: str | Path) -> None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"config": asdict(self.config), "versions": _versions()}
        torch.save(self.state_dict(), out / "model.pt")
        shutil.copyfile(Path(self.tokenizer_dir) / "tokenizer.json", out / "tokenizer.json")
        (out / "twinbert.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> TwinBERT:
        path = Path(path)
        meta_file = path / "twinbert.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{path}: not a TwinBERT checkpoint (no twinbert.json)")
        config = TwinBERTConfig(**json.loads(meta_file.read_text())["config"])
        enc = config.encoder_config

        def empty(layers: int | list[int]) -> Tower:
            n = len(layer_list(layers, enc["num_hidden_layers"]))
            return Tower.empty({**enc, "num_hidden_layers": n}, config.proj_dim)

        q_tower = empty(config.query_layers)
        a_tower = q_tower if config.shared else empty(config.ad_layers)
        model = cls(config, q_tower, a_tower)
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.tokenizer_dir = path
        return model.eval()


def _versions() -> dict[str, str]:
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}
