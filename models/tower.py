"""One tower of TwinBERT: a (truncated) transformer encoder, learned weighted-average pooling, an
optional tanh down-projection, L2-normalised output."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel


class WeightedPooling(nn.Module):
    """TwinBERT's learned weighted average of token states; a zero init makes it a plain mean."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.scorer = nn.Linear(hidden, 1)
        nn.init.zeros_(self.scorer.weight)
        nn.init.zeros_(self.scorer.bias)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.scorer(states).squeeze(-1)
        scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1).unsqueeze(-1)
        return (weights * states).sum(dim=1)


def select_layers(encoder: PreTrainedModel, layers: list[int]) -> PreTrainedModel:
    """A copy of `encoder` keeping only the given transformer layers, in order."""
    n = encoder.config.num_hidden_layers
    bad = [i for i in layers if not 0 <= i < n]
    if bad or not layers:
        raise ValueError(f"layers {layers} are not a non-empty subset of 0..{n - 1}")
    out = copy.deepcopy(encoder)
    out.encoder.layer = nn.ModuleList([out.encoder.layer[i] for i in layers])
    out.config.num_hidden_layers = len(layers)
    return out


def layer_list(spec: int | list[int], total: int) -> list[int]:
    """`4` → the first four layers; `-1` → all of them; an explicit list is used as given."""
    if spec == -1:
        return list(range(total))
    if isinstance(spec, int):
        if not 1 <= spec <= total:
            raise ValueError(f"cannot take {spec} layers from an encoder with {total}")
        return list(range(spec))
    return list(spec)


class Tower(nn.Module):
    """Text → unit vector. Pooling and projection live inside so the ONNX export carries them."""

    def __init__(self, encoder: PreTrainedModel, proj_dim: int | None) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.pooling = WeightedPooling(hidden)
        self.projection = nn.Linear(hidden, proj_dim) if proj_dim else None
        self.dim = proj_dim or hidden

    @classmethod
    def empty(cls, encoder_config: dict, proj_dim: int | None) -> Tower:
        """Same architecture with uninitialised weights (to be filled by a state dict)."""
        settings = dict(encoder_config)
        config = AutoConfig.for_model(settings.pop("model_type", "bert"), **settings)
        return cls(AutoModel.from_config(config, add_pooling_layer=False), proj_dim)

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.pooling(states, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.project(self.pooled(input_ids, attention_mask))

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.projection(pooled)) if self.projection is not None else pooled
        return F.normalize(x, dim=-1)

    def freeze_embeddings(self) -> None:
        """Word embeddings are most of the parameters (250k × 384 for e5) and barely move in fine-tuning."""
        for p in self.encoder.embeddings.word_embeddings.parameters():
            p.requires_grad_(False)
