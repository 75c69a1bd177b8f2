"""The `score` stage: the fine-tuned teacher's logits for labelled (train, dev, test) and unlabelled pool
pairs, written once to `score/pairs.parquet` with the teacher's pooled vectors of every distinct text; and the
reader later stages use for them (`read_score_outputs`). The teacher passes run in this process or, with
`run.engine` set, on Ray actors (`ray_score`), with the same outputs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from offline.distill.encode import TextVectors
from offline.distill.teacher import load_bi_teacher
from offline.distill.training import autocast

if TYPE_CHECKING:
    import pandas as pd

    from offline.distill.run import Run

RAY_WORK = "ray-work"  # --engine ray: finished shards and their manifest, kept until the stage is done


def read_score_outputs(run: Run) -> tuple[pd.DataFrame, TextVectors, TextVectors]:
    """The score stage's pairs table and the teacher's pooled query and ad vectors."""
    import pandas as pd

    d = run.out / "score"
    return (pd.read_parquet(d / "pairs.parquet"), TextVectors.load(d / "teacher_queries"),
            TextVectors.load(d / "teacher_ads"))


def score_stage(run: Run, stage_dir: Path) -> dict:
    """Teacher logits for labelled (train, dev, test) and unlabelled pool pairs → `pairs.parquet`, plus the
    teacher's pooled vectors of every distinct text (the student's ad features and alignment targets)."""
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import roc_auc_score

    from offline.data.pool import build_pool
    from offline.data.qadsm import pair_ad_texts, unique_index
    from offline.distill.encode import encode_pooled, logits_from_pooled

    teacher = load_bi_teacher(run)
    splits = {s: run.split(s) for s in ("train", "dev", "test")}
    queries = [q for p in splits.values() for q in p.query]
    ads = [a for p in splits.values() for a in pair_ad_texts(p)]
    ray_info: dict = {}
    if run.engine is None:
        with autocast(run.config.teacher.precision):
            qv, av = encode_pooled(teacher, "query", queries), encode_pooled(teacher, "ad", ads)
    else:
        from offline.distill.ray_score import encode_pooled_ray

        run.engine.start()
        vecs, ray_info["bi"] = encode_pooled_ray(run.out / "teacher" / "bi", {"query": queries, "ad": ads},
                                                 run.config.teacher.precision, stage_dir / RAY_WORK, run.engine)
        qv, av = vecs["query"], vecs["ad"]

    train = splits["train"]
    uq, _ = unique_index(train.query)
    ua, _ = unique_index(pair_ad_texts(train))
    with torch.no_grad():
        qn = teacher.query_tower.project(torch.from_numpy(qv.vectors[qv.rows(uq)])).numpy()
        an = teacher.ad_tower.project(torch.from_numpy(av.vectors[av.rows(ua)])).numpy()
    pool = build_pool(train, run.config.pool, run.config.seed, qn, an)

    dev = splits["dev"]
    named = [("train", train), ("dev", dev), ("pool", pool), ("test", splits["test"])]
    heads = {name: logits_from_pooled(teacher, qv.vectors[qv.rows(p.query)], av.vectors[av.rows(pair_ad_texts(p))])
             for name, p in named}
    dev_auc = {h: float(roc_auc_score(dev.label, logit)) for h, logit in heads["dev"].items()}
    head = max(dev_auc, key=dev_auc.get)
    bi = {name: logits[head] for name, logits in heads.items()}
    chosen, logits, members = "bi", bi, {}
    if run.config.teacher.kind == "ensemble":
        chosen, logits, members = _ensemble(run, stage_dir, named, bi, dev_auc, ray_info)
    frames = []
    for name, pairs in named:
        frames.append(pd.DataFrame({"split": name, "query": pairs.query, "title": pairs.title,
                                    "description": pairs.description, "label": pairs.label,
                                    "teacher_logit": logits[name].astype(np.float32),
                                    # each ensemble member's own logit, so the report can show them too
                                    **{f"teacher_{m}_logit": v[name].astype(np.float32) for m, v in members.items()}}))
    table = pd.concat(frames, ignore_index=True)
    table.to_parquet(stage_dir / "pairs.parquet", index=False)
    qv.save(stage_dir / "teacher_queries")
    av.save(stage_dir / "teacher_ads")
    shutil.rmtree(stage_dir / RAY_WORK, ignore_errors=True)  # the shards are in the outputs now
    pool_logit = table.loc[table.split == "pool", "teacher_logit"].to_numpy()
    info = {"ray_shards": ray_info} if ray_info else {}
    return {**info, "head": head, "teacher": chosen, "teacher_dev_auc": dev_auc, "pool_size": int(len(pool)),
            "labelled_size": int(len(train)), "pool_share_p_good_over_half": float((pool_logit > 0).mean()),
            "train_share_p_good_over_half": float(
                (table.loc[table.split == "train", "teacher_logit"].to_numpy() > 0).mean())}


def _ensemble(run: Run, stage_dir: Path, named, bi: dict, dev_auc: dict, ray_info: dict) -> tuple[str, dict, dict]:
    """Score every pair with the cross-encoder too; the teacher is whichever of bi-encoder, cross-encoder or
    their ensemble (mean of standardised logits) has the best dev ROC-AUC. Returns (its name, its logits per
    split, every candidate's logits per split)."""
    from sklearn.metrics import roc_auc_score

    from models.cross_encoder import CrossEncoder
    from offline.data.qadsm import pair_ad_texts
    from offline.distill.cross_teacher import cross_logits

    model_dir = run.out / "teacher" / "cross" / "model"
    if run.engine is None:
        model = CrossEncoder.load(model_dir)
        with autocast(run.config.teacher.precision):
            cross = {name: cross_logits(model, p.query, pair_ad_texts(p)) for name, p in named}
    else:
        from offline.distill.ray_score import cross_logits_ray

        cross, ray_info["cross"] = cross_logits_ray(model_dir, {n: (p.query, pair_ad_texts(p)) for n, p in named},
                                                    run.config.teacher.precision, stage_dir / RAY_WORK, run.engine)

    def standard(x: dict) -> dict:
        mu, sd = x["train"].mean(), x["train"].std() + 1e-6
        return {k: (v - mu) / sd for k, v in x.items()}

    zb, zc = standard(bi), standard(cross)
    # keep the bi-encoder's logit scale so soft labels stay probabilities of the same sharpness
    mu, sd = bi["train"].mean(), bi["train"].std()
    ens = {k: ((zb[k] + zc[k]) / 2) * sd + mu for k in bi}
    y = named[1][1].label
    candidates = {"bi": bi, "cross": cross, "ensemble": ens}
    aucs = {k: float(roc_auc_score(y, v["dev"])) for k, v in candidates.items()}
    dev_auc.update({f"teacher_{k}": a for k, a in aucs.items()})
    best = max(aucs, key=aucs.get)
    return best, candidates[best], {"bi": bi, "cross": cross}
