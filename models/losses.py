"""Distillation losses. Teacher scores are precomputed on disk (offline/score); these only read them.

`DistillationLoss` is also the loss section of the run config (`offline.distill.config.StudentConfig.loss`):
its fields, defaults and bounds are declared here once, and a config is checked when it is read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class DistillationLoss(BaseModel):
    """Weighted sum of the configured terms; a zero weight switches a term off. The defaults are the
    distillation recipe's: soft-label BCE, logit MSE at 0.1 and the query tower's cosine alignment."""

    model_config = ConfigDict(extra="forbid")

    soft_weight: float = Field(1.0, ge=0)
    temperature: float = Field(1.0, gt=0)
    mse_weight: float = Field(0.1, ge=0)
    hard_weight: float = Field(0.0, ge=0)
    align_weight: float = Field(1.0, ge=0, description="weight of 1 − cos(student, teacher) pooled query states")

    @model_validator(mode="after")
    def _some_weight(self) -> DistillationLoss:
        if self.soft_weight + self.mse_weight + self.hard_weight + self.align_weight == 0:
            raise ValueError("all loss weights are zero")
        return self

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
