"""`twinrank distill`: the stage list, in order, each a typed `Stage` (name, what its fingerprint covers, its
body), run by `run_all`. Every stage is resumable: it is skipped when its output exists for the same
fingerprint (`offline.distill.run.run_stage`).

teacher → score → distill → finetune → labels → labels_both → cdssm → calibrate → evaluate: the teacher is fine-tuned,
scores labelled pairs and an unlabelled pool, the student learns from those scores and then from labels, the
comparison models are trained, the served head is calibrated and every model is evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from offline.distill.baselines import cdssm_stage, labels_both_stage, labels_stage
from offline.distill.calibration import calibrate_stage
from offline.distill.config import RunConfig
from offline.distill.predictions import evaluate_stage
from offline.distill.run import Run, console, run_stage
from offline.distill.scoring import score_stage
from offline.distill.student import distill_stage, finetune_stage
from offline.distill.teacher import teacher_stage
from offline.distill.training import seed_everything

if TYPE_CHECKING:
    from offline.distill.ray_score import RayScoring

# Bumped when stage code changes what the student stages produce, so finished runs redo those stages.
# v2: uncentred, bias-free PCA init of the projections.
STUDENT_RECIPE = "student-v2"
EVAL_RECIPE = "eval-v3"  # v2: the stage also writes report/predictions.parquet; v3: unseen-query ROC-AUC


@dataclass(frozen=True)
class Stage:
    """One resumable step of the run.

    Attributes:
        name: the stage's directory under the run directory, and its `--only` name.
        depends_on: the config parts (and recipe tags) whose values the stage's output depends on; their
            fingerprint decides whether a finished stage is reused.
        body: `body(run, stage_dir)` does the work and returns the info kept in `done.json`.
    """

    name: str
    depends_on: Callable[[RunConfig], tuple]
    body: Callable[[Run, Path], dict | None]


def _distill_part(c: RunConfig) -> dict:
    return c.student.model_dump(exclude={"finetune_epochs", "finetune_lr", "finetune_loss"})


def _labels_part(c: RunConfig) -> tuple:
    return (c.student.query_layers, c.student.ad_layers, c.student.proj_dim, c.baselines.labels_epochs,
            c.baselines.labels_lr)


def _labels_both_part(c: RunConfig) -> tuple:
    b = c.baselines
    return (c.student.query_layers, c.student.ad_layers, c.student.query_max_len, c.student.ad_max_len,
            c.teacher.batch_size, b.labels_both_epochs, b.labels_both_lr, b.labels_both_proj_dim)


STAGES: tuple[Stage, ...] = (
    Stage("teacher", lambda c: (c.teacher,), teacher_stage),
    Stage("score", lambda c: (c.teacher, c.pool), score_stage),
    Stage("distill", lambda c: (c.teacher, c.pool, _distill_part(c), STUDENT_RECIPE), distill_stage),
    Stage("finetune", lambda c: (c.teacher, c.pool, c.student, STUDENT_RECIPE), finetune_stage),
    Stage("labels", lambda c: (_labels_part(c), STUDENT_RECIPE), labels_stage),
    Stage("labels_both", _labels_both_part, labels_both_stage),
    Stage("cdssm", lambda c: (c.teacher, c.pool, c.baselines.cdssm_epochs, c.baselines.cdssm_lr), cdssm_stage),
    Stage("calibrate", lambda c: (c.teacher, c.pool, c.student, STUDENT_RECIPE), calibrate_stage),
    Stage("evaluate", lambda c: (c, STUDENT_RECIPE, EVAL_RECIPE), evaluate_stage),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def stage_keys(run: Run) -> dict[str, str]:
    """Each stage's fingerprint for this run."""
    return {s.name: run.key(*s.depends_on(run.config)) for s in STAGES}


def run_all(data: str, out: Path, config: RunConfig, only: list[str] | None = None,
            engine: RayScoring | None = None) -> dict:
    """Run every stage (or those named in `only`) in order, the score stage's teacher passes on Ray when
    `engine` is given; returns each stage's info."""
    if config.threads:
        torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config.model_dump_json(indent=2))
    run = Run(data, out, config, engine)
    keys = stage_keys(run)
    infos = {}
    for stage in STAGES:
        if only and stage.name not in only:
            continue
        seed_everything(config.seed)
        infos[stage.name] = run_stage(stage.name, out, keys[stage.name], lambda d, s=stage: s.body(run, d))
    times = {n: round(i["seconds"], 1) for n, i in infos.items()}
    (out / "stage_times.json").write_text(json.dumps(times, indent=2))
    console.print(f"run complete: {out}")
    return infos
