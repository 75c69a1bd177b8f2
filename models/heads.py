"""Crossing heads over a query vector and an ad vector (both unit-norm), returning logits."""

from __future__ import annotations

import torch
from torch import nn


class CosHead(nn.Module):
    """logit = scale · cos(q, a) + bias. Separable, so retrieval by inner product ranks the same way."""

    def __init__(self, scale: float = 20.0, bias: float = -16.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(self, q: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.scale * (q * a).sum(-1) + self.bias


class ResHead(nn.Module):
    """TwinBERT's residual crossing: the cosine logit plus an MLP over [q, a, q·a, |q−a|].

    The MLP's last layer starts at zero, so the head starts out equal to the cosine head it wraps.
    """

    def __init__(self, dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.cos = CosHead()
        self.mlp = nn.Sequential(nn.Linear(4 * dim, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, q: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        feats = torch.cat([q, a, q * a, (q - a).abs()], dim=-1)
        return self.cos(q, a) + self.mlp(feats).squeeze(-1)
