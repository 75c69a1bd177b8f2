"""The body of each distillation stage (see offline/pipeline.py for the order and fingerprints)."""

from __future__ import annotations

import json
from pathlib import Path

from models.twinbert import TwinBERT, TwinBERTConfig
from offline.train_twin import train_on_labels
from offline.training import autocast


def teacher(run, stage_dir: Path) -> dict:
    """Fine-tune the bi-encoder and/or the cross-encoder. Each sub-teacher is kept once trained (with its
    `info.json`), so a stage cut off while training the second one does not retrain the first."""
    c = run.config
    info: dict = {}
    if c.teacher.kind in ("bi", "ensemble"):
        info["bi"] = _trained_once(stage_dir / "bi", lambda: _train_bi(run, stage_dir))
    if c.teacher.kind in ("cross", "ensemble"):
        from offline.train_cross import train_cross

        info["cross"] = _trained_once(stage_dir / "cross", lambda: train_cross(run, stage_dir / "cross"))
    return info


def _trained_once(model_dir: Path, train) -> dict:
    done = model_dir / "info.json"
    if done.exists():
        return json.loads(done.read_text())
    info = train()
    done.write_text(json.dumps(info, indent=2))
    return info


def _train_bi(run, stage_dir: Path) -> dict:
    c = run.config
    model = TwinBERT.from_base(TwinBERTConfig(base=c.base, query_layers=-1, ad_layers=-1, shared=True,
                                              proj_dim=None, query_max_len=c.student.query_max_len,
                                              ad_max_len=c.student.ad_max_len,
                                              recipe={"role": "teacher", "kind": "bi-encoder"}))
    hist = train_on_labels(model, run.split("train"), run.split("dev"), stage_dir, c.teacher.epochs,
                           c.teacher.lr, c.teacher.batch_size, c.seed, c.teacher.inbatch_weight,
                           c.teacher.head_lr_factor, c.teacher.precision)
    model.save(stage_dir / "bi")
    return {**hist, "dev_auc": hist["dev_best"]}


def _teacher(run) -> TwinBERT:
    return TwinBERT.load(run.out / "teacher" / "bi")


def score(run, stage_dir: Path) -> dict:
    """Teacher logits for labelled (train, dev, test) and unlabelled pool pairs → `pairs.parquet`, plus the
    teacher's pooled vectors of every distinct text (the student's ad features and alignment targets)."""
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import roc_auc_score

    from offline.encode import pair_ad_texts, unique_index
    from offline.pool import build_pool
    from offline.teacher_cache import encode_pooled, logits_from_pooled

    teacher = _teacher(run)
    splits = {s: run.split(s) for s in ("train", "dev", "test")}
    queries = [q for p in splits.values() for q in p.query]
    ads = [a for p in splits.values() for a in pair_ad_texts(p)]
    with autocast(run.config.teacher.precision):
        qv, av = encode_pooled(teacher, "query", queries), encode_pooled(teacher, "ad", ads)

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
        chosen, logits, members = _ensemble(run, named, bi, dev_auc)
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
    pool_logit = table.loc[table.split == "pool", "teacher_logit"].to_numpy()
    return {"head": head, "teacher": chosen, "teacher_dev_auc": dev_auc, "pool_size": int(len(pool)),
            "labelled_size": int(len(train)), "pool_share_p_good_over_half": float((pool_logit > 0).mean()),
            "train_share_p_good_over_half": float(
                (table.loc[table.split == "train", "teacher_logit"].to_numpy() > 0).mean())}


def _ensemble(run, named, bi: dict, dev_auc: dict) -> tuple[str, dict, dict]:
    """Score every pair with the cross-encoder too; the teacher is whichever of bi-encoder, cross-encoder or
    their ensemble (mean of standardised logits) has the best dev ROC-AUC. Returns (its name, its logits per
    split, every candidate's logits per split)."""
    from sklearn.metrics import roc_auc_score

    from models.cross_encoder import CrossEncoder
    from offline.encode import pair_ad_texts
    from offline.train_cross import cross_logits

    model = CrossEncoder.load(run.out / "teacher" / "cross" / "model")
    with autocast(run.config.teacher.precision):
        cross = {name: cross_logits(model, p.query, pair_ad_texts(p)) for name, p in named}

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


def _score_outputs(run):
    import pandas as pd

    from offline.teacher_cache import TextVectors

    d = run.out / "score"
    return (pd.read_parquet(d / "pairs.parquet"), TextVectors.load(d / "teacher_queries"),
            TextVectors.load(d / "teacher_ads"))


def _cached(table, ads) -> CachedPairs:  # noqa: F821
    from offline.distill import CachedPairs
    from offline.encode import frame_ad_texts

    return CachedPairs(list(table["query"]), ads.rows(frame_ad_texts(table)), table.teacher_logit.to_numpy(),
                       table.label.to_numpy())


def distill(run, stage_dir: Path) -> dict:
    """Student = the teacher's first query layers (query tower) and all its layers frozen (ad tower), trained
    on the teacher's scores of labelled + pool pairs, with the query tower's pooled state aligned to the
    teacher's."""
    from offline.distill import freeze_ad_encoder, init_projection_pca, student_config, train_query_tower

    c = run.config
    teacher = _teacher(run)
    table, qv, av = _score_outputs(run)
    cfg = student_config(c.student, c.base, teacher.config.query_prefix, teacher.config.ad_prefix, "student_kd")
    cfg.recipe.update({"teacher": "bi-encoder 12L", "distill": c.student.loss.model_dump()})
    student = TwinBERT.from_encoder(cfg, teacher.query_tower.encoder, teacher.tokenizer_dir)
    for tower in (student.query_tower, student.ad_tower):
        tower.pooling.load_state_dict(teacher.query_tower.pooling.state_dict())
    freeze_ad_encoder(student)
    train_rows = table[table.split.isin(["train", "pool"])]
    init_projection_pca(student, av.vectors[_cached(train_rows, av).ad_row])
    hist = train_query_tower(student, _cached(train_rows, av), _cached(table[table.split == "dev"], av), av.vectors,
                             qv, c.student.loss, c.student.distill_epochs, c.student.distill_lr,
                             c.student.queries_per_batch, stage_dir, c.seed)
    student.save(stage_dir / "student")
    return hist


def finetune(run, stage_dir: Path) -> dict:
    """The distilled student fine-tuned on the labelled pairs; saved as the run's served `student_kd/`."""
    import shutil

    from offline.distill import freeze_ad_encoder, train_query_tower

    c = run.config
    table, qv, av = _score_outputs(run)
    student = TwinBERT.load(run.out / "distill" / "student")
    freeze_ad_encoder(student)
    hist = {}
    if c.student.finetune_epochs:
        hist = train_query_tower(student, _cached(table[table.split == "train"], av),
                                 _cached(table[table.split == "dev"], av), av.vectors, qv, c.student.finetune_loss,
                                 c.student.finetune_epochs, c.student.finetune_lr, c.student.queries_per_batch,
                                 stage_dir, c.seed)
    student.config.recipe["finetune"] = c.student.finetune_loss.model_dump()
    tmp = run.out / ".student_kd.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    student.save(tmp)
    shutil.rmtree(run.out / "student_kd", ignore_errors=True)
    tmp.rename(run.out / "student_kd")
    return hist


def labels_only(run, stage_dir: Path) -> dict:
    """The same student (4-layer query tower, 12-layer ad tower frozen at its initialisation, projections and
    heads trained) initialised from the base encoder and trained on labels only. Its pooled ad states are the
    base encoder's mean-pooled states, which the zero-shot baseline reuses."""
    from offline.distill import (
        CachedPairs,
        freeze_ad_encoder,
        init_projection_pca,
        student_config,
        train_query_tower,
    )
    from offline.encode import pair_ad_texts
    from offline.teacher_cache import TextVectors, encode_pooled

    c = run.config
    probe = TwinBERT.from_base(student_config(c.student, c.base, "", "", "student_labels"))
    splits = {s: run.split(s) for s in ("train", "dev", "test")}
    cache = stage_dir / "base_ads"
    if cache.with_suffix(".npy").exists():  # encoding is the slow part: a rerun of this stage keeps it
        av = TextVectors.load(cache)
    else:
        av = encode_pooled(probe, "ad", [a for p in splits.values() for a in pair_ad_texts(p)], label="base")
        av.save(cache)
    freeze_ad_encoder(probe)

    def cached(p) -> CachedPairs:
        import numpy as np

        return CachedPairs(p.query, av.rows(pair_ad_texts(p)), np.full(len(p), np.nan), p.label)

    init_projection_pca(probe, av.vectors[cached(splits["train"]).ad_row])
    from offline.config import LossConfig

    hist = train_query_tower(probe, cached(splits["train"]), cached(splits["dev"]), av.vectors, None,
                             LossConfig(soft_weight=0, mse_weight=0, hard_weight=1, align_weight=0),
                             c.baselines.labels_epochs, c.baselines.labels_lr, c.student.queries_per_batch,
                             stage_dir, c.seed)
    probe.save(stage_dir / "student_labels")
    return hist


def cdssm(run, stage_dir: Path) -> dict:
    import torch

    from offline.baselines import train_cdssm

    table, _, _ = _score_outputs(run)
    model, hist = train_cdssm(table, stage_dir, run.config.baselines.cdssm_epochs, run.config.baselines.cdssm_lr,
                              run.config.seed)
    torch.save(model.state_dict(), stage_dir / "cdssm.pt")
    return hist


def _student_kd_logits(run, table, ads) -> dict:
    from offline.distill import cached_logits

    model = TwinBERT.load(run.out / "student_kd")
    rows = _cached(table, ads)
    return cached_logits(model, rows.query, rows.ad_row, ads.vectors)


def calibrate(run, stage_dir: Path) -> dict:
    """Platt scaling of the served head's logit, fitted on dev: relevance = sigmoid(a·logit + b). The served
    head is the one with the better dev ROC-AUC (`res` on ties: it rescores the retrieved candidates)."""
    import json

    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    table, _, av = _score_outputs(run)
    dev = table[table.split == "dev"]
    logits = _student_kd_logits(run, dev, av)
    y = dev.label.to_numpy()
    aucs = {h: float(roc_auc_score(y, v)) for h, v in logits.items()}
    head = "res" if aucs["res"] >= aucs["cos"] - 1e-4 else "cos"
    lr = LogisticRegression(C=1e4).fit(logits[head].reshape(-1, 1), y)
    cal = {"head": head, "kind": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    tmp = run.out / "calibration.json.tmp"
    tmp.write_text(json.dumps(cal, indent=2))  # the bundle's calibration schema: exactly these keys
    tmp.replace(run.out / "calibration.json")
    p = 1 / (1 + np.exp(-(cal["a"] * logits[head] + cal["b"])))
    return {**cal, "fitted_on": "dev", "dev_roc_auc": aucs, "dev_mean_p": float(p.mean())}


def evaluate(run, stage_dir: Path) -> dict:
    from offline.evaluate import evaluate_run

    return evaluate_run(run, stage_dir)
