"""`twinrank distill`: teacher → score → distill → finetune → calibrate → evaluate, plus the comparison
models (labels-only student, CDSSM, zero-shot bi-encoder, TF-IDF). Every stage is resumable."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from offline.config import RunConfig, fingerprint
from offline.qadsm import Pairs, read_split
from offline.stages import console, run_stage
from offline.training import seed_everything

# Bumped when stage code changes what the student stages produce, so finished runs redo those stages.
# v2: uncentred, bias-free PCA init of the projections.
STUDENT_RECIPE = "student-v2"


class Run:
    """Paths and data of one distillation run."""

    def __init__(self, data: str, out: Path, config: RunConfig) -> None:
        self.data, self.out, self.config = data, out, config
        self._splits: dict[str, Pairs] = {}

    def split(self, name: str) -> Pairs:
        if name not in self._splits:
            limit = self.config.test_limit if name == "test" else self.config.train_limit
            self._splits[name] = read_split(self.data, name, limit)
        return self._splits[name]

    def key(self, *parts: object) -> str:
        c = self.config
        return fingerprint(self.data, c.base, c.seed, c.train_limit, *parts)


def run_all(data: str, out: Path, config: RunConfig, only: list[str] | None = None) -> dict:
    from offline import stage_fns

    if config.threads:
        torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config.model_dump_json(indent=2))
    run = Run(data, out, config)
    c = config
    distill_part = c.student.model_dump(exclude={"finetune_epochs", "finetune_lr", "finetune_loss"})
    labels_part = (c.student.query_layers, c.student.ad_layers, c.student.proj_dim, c.baselines.labels_epochs,
                   c.baselines.labels_lr)
    plan = [
        ("teacher", run.key(c.teacher), "teacher"),
        ("score", run.key(c.teacher, c.pool), "score"),
        ("distill", run.key(c.teacher, c.pool, distill_part, STUDENT_RECIPE), "distill"),
        ("finetune", run.key(c.teacher, c.pool, c.student, STUDENT_RECIPE), "finetune"),
        ("labels", run.key(labels_part, STUDENT_RECIPE), "labels_only"),
        ("cdssm", run.key(c.teacher, c.pool, c.baselines.cdssm_epochs, c.baselines.cdssm_lr), "cdssm"),
        ("calibrate", run.key(c.teacher, c.pool, c.student, STUDENT_RECIPE), "calibrate"),
        ("evaluate", run.key(c, STUDENT_RECIPE, "eval-v1"), "evaluate"),
    ]
    infos = {}
    for name, key, fn_name in plan:
        if only and name not in only:
            continue
        seed_everything(c.seed)
        fn = getattr(stage_fns, fn_name)
        infos[name] = run_stage(name, out, key, lambda d, fn=fn: fn(run, d))
    times = {n: round(i["seconds"], 1) for n, i in infos.items()}
    (out / "stage_times.json").write_text(json.dumps(times, indent=2))
    console.print(f"run complete: {out}")
    return infos
