"""What vocabulary trimming cost: a trimmed export against the untrimmed one on a QADSM split.

Pieces kept, file sizes, the share of the split's tokens that tokenize differently, and ROC-AUC of both
exports through the service's runtime (`twinrank evaluate --baseline`).
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer

from offline.data.qadsm import pair_ad_texts, read_split
from offline.evaluation.exported import evaluate_exported
from offline.export.vocab_trim import plan_from_tokenizers, token_drift


def model_files_mb(model_dir: Path) -> dict[str, float]:
    """Size in MB of each file a model directory ships (model.json included)."""
    return {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(model_dir.iterdir()) if p.is_file()}


def compare_to_baseline(model_dir: Path, baseline_dir: Path, data: str, split: str = "test", threads: int = 2,
                        limit: int | None = None) -> dict:
    """Both exports' metrics on `split`, their sizes, and the tokenization drift between their vocabularies."""
    info = json.loads((model_dir / "model.json").read_text())
    model = evaluate_exported(model_dir, data, split, "int8", threads, limit=limit)
    baseline = evaluate_exported(baseline_dir, data, split, "int8", threads, limit=limit)
    tokenizers = [Tokenizer.from_file(str(d / "tokenizer.json")) for d in (baseline_dir, model_dir)]
    part = read_split(data, split, limit)
    texts = [info["query_prefix"] + q for q in part.query] + [info["ad_prefix"] + a for a in pair_ad_texts(part)]
    plan = plan_from_tokenizers(*tokenizers)
    drift = token_drift(*tokenizers, plan, texts)
    sizes = {"model": model_files_mb(model_dir), "baseline": model_files_mb(baseline_dir)}
    return {
        "split": split, "rows": len(part),
        "pieces": {"kept": plan.size, "original": plan.original_size},
        "tokens": {"total": drift.tokens, "changed": drift.changed, "changed_share": drift.changed_share,
                   "words_newly_unknown": drift.unknown},
        "size_mb": {k: round(sum(v.values()), 2) for k, v in sizes.items()}, "files_mb": sizes,
        "model": model, "baseline": baseline,
        "roc_auc_loss": baseline["roc_auc"] - model["roc_auc"],
    }


def comparison_markdown(r: dict) -> str:
    m, b = r["model"], r["baseline"]
    lines = [
        f"# Vocabulary trimming: {Path(m['model']).name} vs {Path(b['model']).name} ({r['split']} split, "
        f"{r['rows']} rows)", "",
        f"- pieces kept: {r['pieces']['kept']:,} of {r['pieces']['original']:,}",
        f"- {r['split']} tokens that tokenize differently: {r['tokens']['changed_share']:.2%} "
        f"({r['tokens']['changed']:,} of {r['tokens']['total']:,}; {r['tokens']['words_newly_unknown']} words "
        "gain an `<unk>`)",
        f"- ROC-AUC loss from trimming: {r['roc_auc_loss']:+.4f}", "",
        "| export | size (MB) | ROC-AUC (95 % CI) | accuracy | nDCG@5 | ECE |", "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, e in (("model", m), ("baseline", b)):
        lo, hi = e["roc_auc_ci"]
        lines.append(f"| {Path(e['model']).name} ({e['precision']} towers, {e['head']} head) | "
                     f"{r['size_mb'][key]:.1f} | {e['roc_auc']:.4f} ({lo:.3f}–{hi:.3f}) | {e['accuracy']:.2%} | "
                     f"{e['ndcg_at_5']:.3f} | {e['ece']:.3f} |")
    lines += ["", "Files (MB):", ""]
    for key in ("model", "baseline"):
        lines.append(f"- {Path(r[key]['model']).name}: " + ", ".join(f"{n} {s}" for n, s in r["files_mb"][key].items()))
    return "\n".join(lines) + "\n"
