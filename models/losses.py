"""Distillation losses. Teacher scores are precomputed on disk (offline/score); these only read them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def soft_bce(student_logit: torch.Tensor, teacher_logit: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """BCE against the teacher's softened probability; scaled by T² so gradients keep their size."""
    target = torch.sigmoid(teacher_logit / temperature)
    return F.binary_cross_entropy_with_logits(student_logit / temperature, target) * temperature**2


def logit_mse(student_logit: torch.Tensor, teacher_logit: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(student_logit, teacher_logit)


def hard_bce(student_logit: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(student_logit, label.float())


def cosine_alignment(student_vec: torch.Tensor, teacher_vec: torch.Tensor) -> torch.Tensor:
    """1 − cos between a student's pooled vector and the teacher's (same width)."""
    return (1 - F.cosine_similarity(student_vec, teacher_vec, dim=-1)).mean()


@dataclass
class DistillationLoss:
    """Weighted sum of the configured terms; a zero weight switches a term off."""

    soft_weight: float = 1.0
    temperature: float = 1.0
    mse_weight: float = 0.0
    hard_weight: float = 0.0
    align_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if min(self.soft_weight, self.mse_weight, self.hard_weight, self.align_weight) < 0:
            raise ValueError("loss weights must be ≥ 0")
        if self.soft_weight + self.mse_weight + self.hard_weight + self.align_weight == 0:
            raise ValueError("all loss weights are zero")

    def __call__(self, logit: torch.Tensor, teacher_logit: torch.Tensor | None = None,
                 label: torch.Tensor | None = None, vec: torch.Tensor | None = None,
                 teacher_vec: torch.Tensor | None = None) -> torch.Tensor:
        loss = logit.new_zeros(())
        if teacher_logit is not None:
            if self.soft_weight:
                loss = loss + self.soft_weight * soft_bce(logit, teacher_logit, self.temperature)
            if self.mse_weight:
                loss = loss + self.mse_weight * logit_mse(logit, teacher_logit)
        if label is not None and self.hard_weight:
            known = label >= 0
            if known.any():
                loss = loss + self.hard_weight * hard_bce(logit[known], label[known])
        if vec is not None and teacher_vec is not None and self.align_weight:
            loss = loss + self.align_weight * cosine_alignment(vec, teacher_vec)
        return loss
