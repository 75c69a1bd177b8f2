"""The `evaluate` stage: every model of the run (teacher and its members, the distilled student on both heads,
the labels-only student, CDSSM, the zero-shot base encoder, TF-IDF) scores the dev and test pairs
(`predict`), then `offline.evaluation` turns the scores into metrics and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from models.twinbert import TwinBERT, TwinBERTConfig
from offline.data.qadsm import frame_ad_texts
from offline.distill.baselines import cdssm_logits, tfidf_scores
from offline.distill.encode import TextVectors, encode_pooled
from offline.distill.scoring import read_score_outputs
from offline.distill.student import cached_logits, student_kd_logits
from offline.evaluation.evaluate import Predictions, evaluate_predictions
from offline.evaluation.predictions_file import FILE_NAME as PREDICTIONS_FILE
from offline.evaluation.predictions_file import write_predictions
from offline.evaluation.report import write_distill_report

if TYPE_CHECKING:
    from offline.distill.run import Run


def predict(run: Run) -> Predictions:
    """Every model's scores of the dev and test pairs of the score stage's table."""
    c = run.config
    table, _, av = read_score_outputs(run)
    parts = {s: table[table.split == s].reset_index(drop=True) for s in ("dev", "test")}
    cal = json.loads((run.out / "calibration.json").read_text())
    scores: dict[str, dict[str, np.ndarray]] = {}

    scores["teacher"] = {s: f.teacher_logit.to_numpy() for s, f in parts.items()}
    for member in ("bi", "cross"):  # an ensemble teacher's members, when the score stage kept them
        if f"teacher_{member}_logit" in table:
            scores[f"teacher_{member}"] = {s: f[f"teacher_{member}_logit"].to_numpy() for s, f in parts.items()}
    kd = {s: student_kd_logits(run, f, av) for s, f in parts.items()}
    scores["student_kd"] = {s: kd[s][cal["head"]] for s in parts}
    scores["student_kd_cos"] = {s: kd[s]["cos"] for s in parts}

    base_ads = TextVectors.load(run.out / "labels" / "base_ads")
    labels_model = TwinBERT.load(run.out / "labels" / "student_labels")
    lab = {s: cached_logits(labels_model, list(f["query"]), base_ads.rows(frame_ad_texts(f)), base_ads.vectors)
           for s, f in parts.items()}
    lab_head = max(("cos", "res"), key=lambda h: _auc(parts["dev"].label, lab["dev"][h]))
    scores["student_labels"] = {s: lab[s][lab_head] for s in parts}

    both = run.out / "labels_both" / "student_labels_both"
    if both.exists():  # runs made before the stage existed have none
        scores["student_labels_both"] = best_head_scores(TwinBERT.load(both), {s: run.split(s) for s in parts})

    from models.cdssm import CDSSM

    cd = CDSSM()
    cd.load_state_dict(torch.load(run.out / "cdssm" / "cdssm.pt", map_location="cpu", weights_only=True))
    scores["cdssm"] = {s: cdssm_logits(cd, list(f["query"]), frame_ad_texts(f)) for s, f in parts.items()}

    base = TwinBERT.from_base(TwinBERTConfig(base=c.base, query_layers=-1, ad_layers=-1, shared=True, proj_dim=None,
                                             query_max_len=c.student.query_max_len, ad_max_len=c.student.ad_max_len))
    bq = encode_pooled(base, "query", [q for f in parts.values() for q in f["query"]], label="zero-shot")
    scores["zero_shot"] = {}
    for s, f in parts.items():
        q = bq.vectors[bq.rows(list(f["query"]))]
        a = base_ads.vectors[base_ads.rows(frame_ad_texts(f))]
        scores["zero_shot"][s] = (_unit(q) * _unit(a)).sum(1)

    train = table[table.split == "train"]
    fit = list(dict.fromkeys(list(train["query"]) + frame_ad_texts(train)))
    scores["tfidf"] = {s: tfidf_scores(fit, list(f["query"]), frame_ad_texts(f)) for s, f in parts.items()}

    seen = frozenset(table.loc[table.split.isin(["train", "dev"]), "query"])
    return Predictions(scores, {s: f.label.to_numpy() for s, f in parts.items()}, list(parts["test"]["query"]),
                       cal, lab_head, seen)


def best_head_scores(model: TwinBERT, pairs: dict) -> dict[str, np.ndarray]:
    """A TwinBERT's logits of the dev and test pairs (e.g. the two-tower labels-only student), on its head with
    the better dev ROC-AUC."""
    from offline.distill.encode import score_pairs_heads

    by_split = {s: score_pairs_heads(model, p) for s, p in pairs.items()}
    head = max(by_split["dev"], key=lambda h: _auc(pairs["dev"].label, by_split["dev"][h]))
    return {s: heads[head] for s, heads in by_split.items()}


def evaluate_stage(run: Run, stage_dir: Path) -> dict:
    """Predictions, metrics and the report (`report/`); returns the headline figures for `done.json`."""
    e = run.config.eval
    predictions = predict(run)
    metrics = evaluate_predictions(predictions, e.bootstrap, e.ndcg_k, e.density_top)
    write_distill_report(run.out, run.config, metrics, run.out / "report")
    queries = {s: run.split(s).query for s in predictions.labels}
    write_predictions(predictions, run.out / "report" / PREDICTIONS_FILE, queries)
    models = metrics["models"]
    return {"gain_kept": metrics["gain_kept"], "student_kd_auc": models["student_kd"]["roc_auc"],
            "teacher_auc": models["teacher"]["roc_auc"]}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


def _auc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))
