"""Vocabulary trimming: keep only the sentencepiece pieces a language needs, in the tokenizer and the towers.

A multilingual unigram vocabulary (XLM-R's 250k pieces) is mostly pieces a German model never sees, and its
embedding table is most of a small tower's weights. Trimming keeps the pieces that texts of the target
language use (chosen from the training split and a word list, never from dev or test), every single
character those pieces are made of (so any text still tokenizes, unknown characters becoming `<unk>`), and
the special tokens; rows of the embedding table are kept in the same order, so a text made of kept pieces
gets the same ids' vectors and the same tower output as before.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenizers import Tokenizer

from offline.errors import ExportError

if TYPE_CHECKING:
    from models.twinbert import TwinBERT

METASPACE = "▁"
# Debian's `wngerman` package installs the word list here.
DEFAULT_WORD_LIST = Path("/usr/share/dict/ngerman")


class VocabTrimError(ExportError):
    """A tokenizer or model that cannot be trimmed (not a unigram vocabulary, ids out of range)."""


@dataclass(frozen=True)
class TrimPlan:
    """Which pieces of the original vocabulary survive, in their original order.

    `kept[new_id] = old_id`; specials and single characters are included.
    """

    kept: list[int]
    original_size: int

    @property
    def size(self) -> int:
        return len(self.kept)


def _unigram_json(tokenizer: Tokenizer) -> dict[str, Any]:
    spec = json.loads(tokenizer.to_str())
    if spec["model"].get("type") != "Unigram":
        raise VocabTrimError(f"only unigram (sentencepiece) vocabularies can be trimmed, not {spec['model']['type']}")
    return spec


def used_piece_ids(tokenizer: Tokenizer, texts: Iterable[str], batch: int = 4096) -> set[int]:
    """Ids of every piece the tokenizer produces for `texts` (special tokens included)."""
    tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: padding/truncation settings stay the caller's
    tokenizer.no_truncation()
    tokenizer.no_padding()
    ids: set[int] = set()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == batch:
            ids.update(i for e in tokenizer.encode_batch(chunk) for i in e.ids)
            chunk = []
    if chunk:
        ids.update(i for e in tokenizer.encode_batch(chunk) for i in e.ids)
    return ids


def plan_trim(tokenizer: Tokenizer, used: set[int]) -> TrimPlan:
    """Used pieces + special tokens + every single-character piece that the kept pieces' characters need."""
    spec = _unigram_json(tokenizer)
    vocab = spec["model"]["vocab"]
    n = len(vocab)
    bad = [i for i in used if not 0 <= i < n]
    if bad:
        raise VocabTrimError(f"piece ids {sorted(bad)[:5]} out of range for a vocabulary of {n}")
    keep = set(used) | {t["id"] for t in spec.get("added_tokens", [])} | {spec["model"]["unk_id"]}
    single = {piece: i for i, (piece, _) in enumerate(vocab) if len(piece) == 1}
    for i in list(keep):
        for ch in vocab[i][0]:
            if ch in single:
                keep.add(single[ch])
    if METASPACE in single:
        keep.add(single[METASPACE])
    return TrimPlan(kept=sorted(keep), original_size=n)


def trim_tokenizer(tokenizer: Tokenizer, plan: TrimPlan) -> Tokenizer:
    """The same tokenizer over the kept pieces only (scores, normaliser and templates unchanged, ids remapped)."""
    spec = _unigram_json(tokenizer)
    if len(spec["model"]["vocab"]) != plan.original_size:
        raise VocabTrimError(f"plan is for a vocabulary of {plan.original_size}, tokenizer has "
                             f"{len(spec['model']['vocab'])}")
    new_id = {old: new for new, old in enumerate(plan.kept)}
    out = copy.deepcopy(spec)
    out["model"]["vocab"] = [spec["model"]["vocab"][old] for old in plan.kept]
    out["model"]["unk_id"] = new_id[spec["model"]["unk_id"]]
    for token in out.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    post = out.get("post_processor") or {}
    for special in (post.get("special_tokens") or {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    for key in ("sep", "cls"):  # RobertaProcessing / BertProcessing keep [token, id] pairs
        if isinstance(post.get(key), list):
            post[key] = [post[key][0], new_id[post[key][1]]]
    if out.get("padding"):
        out["padding"]["pad_id"] = new_id.get(out["padding"]["pad_id"], 0)
    return Tokenizer.from_str(json.dumps(out, ensure_ascii=False))


def trim_model(model: TwinBERT, plan: TrimPlan, tokenizer_dir: Path) -> TwinBERT:
    """Cut both towers' word-embedding tables to the kept rows, in place; the tokenizer is read from
    `tokenizer_dir` afterwards (it must hold the trimmed `tokenizer.json`)."""
    import torch
    from torch import nn

    towers = {id(t): t for t in (model.query_tower, model.ad_tower)}.values()  # shared towers trimmed once
    index = torch.tensor(plan.kept, dtype=torch.long)
    for tower in towers:
        emb = tower.encoder.embeddings.word_embeddings
        if emb.num_embeddings < plan.original_size:  # more rows than pieces is common (padded tables): unused
            raise VocabTrimError(f"tower has {emb.num_embeddings} embeddings, fewer than the tokenizer's "
                                 f"{plan.original_size} pieces")
        table = nn.Embedding(plan.size, emb.embedding_dim, padding_idx=_new_pad(emb.padding_idx, plan))
        with torch.no_grad():
            table.weight.copy_(emb.weight[index])
        table.weight.requires_grad_(emb.weight.requires_grad)
        tower.encoder.embeddings.word_embeddings = table
        tower.encoder.config.vocab_size = plan.size
        if tower.encoder.config.pad_token_id is not None:
            tower.encoder.config.pad_token_id = _new_pad(tower.encoder.config.pad_token_id, plan)
    model.config.encoder_config = {**model.config.encoder_config, "vocab_size": plan.size,
                                   "pad_token_id": model.query_tower.encoder.config.pad_token_id}
    model.config.recipe = {**model.config.recipe, "vocab_trimmed": {"kept": plan.size,
                                                                    "original": plan.original_size}}
    model.tokenizer_dir = Path(tokenizer_dir)
    return model


def trim_for_texts(model: TwinBERT, texts: Iterable[str], work_dir: Path) -> tuple[TwinBERT, TrimPlan]:
    """Trim `model` (in place) to the pieces `texts` use; the trimmed `tokenizer.json` is written to `work_dir`,
    which must outlive the model's use (export copies it)."""
    tokenizer = Tokenizer.from_file(str(Path(model.tokenizer_dir) / "tokenizer.json"))
    plan = plan_trim(tokenizer, used_piece_ids(tokenizer, texts))
    work_dir.mkdir(parents=True, exist_ok=True)
    trim_tokenizer(tokenizer, plan).save(str(work_dir / "tokenizer.json"))
    return trim_model(model, plan, work_dir), plan


def plan_from_tokenizers(original: Tokenizer, trimmed: Tokenizer) -> TrimPlan:
    """The plan that turned `original` into `trimmed`, read back from the pieces (for reports on a shipped
    model): each trimmed piece's id in the original vocabulary."""
    pieces = [p for p, _ in _unigram_json(original)["model"]["vocab"]]
    old_id = {p: i for i, p in enumerate(pieces)}
    try:
        kept = [old_id[p] for p, _ in _unigram_json(trimmed)["model"]["vocab"]]
    except KeyError as e:
        raise VocabTrimError(f"piece {e.args[0]!r} of the trimmed vocabulary is not in the original") from e
    return TrimPlan(kept=kept, original_size=len(pieces))


def _new_pad(old: int | None, plan: TrimPlan) -> int | None:
    if old is None:
        return None
    try:
        return plan.kept.index(old)
    except ValueError as e:
        raise VocabTrimError(f"the padding id {old} is not among the kept pieces") from e


def word_list_texts(path: Path) -> list[str]:
    """Words of a one-word-per-line list, each also lower-cased and with umlauts spelled out, the way QADSM
    queries write them (`Gärten` → `gärten`, `gaerten`)."""
    from models.text import fold_umlauts

    if not path.is_file():
        raise VocabTrimError(f"{path}: word list not found (Debian: apt-get install wngerman)")
    words = [w.strip() for w in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    out: set[str] = set()
    for w in words:
        if w and not w.startswith("#"):
            out.update((w, w.lower(), fold_umlauts(w)))
    return sorted(out)


@dataclass(frozen=True)
class TokenDrift:
    """How a trimmed tokenizer's output differs from the original's on some texts."""

    tokens: int  # tokens of the original output (special tokens excluded)
    changed: int  # of those, tokens of words whose ids changed (another segmentation, or `<unk>`)
    unknown: int  # words with an `<unk>` after trimming that had none before

    @property
    def changed_share(self) -> float:
        return self.changed / self.tokens if self.tokens else 0.0


def token_drift(original: Tokenizer, trimmed: Tokenizer, plan: TrimPlan, texts: list[str]) -> TokenDrift:
    """Compare, word by word, the original ids with the trimmed ids mapped back through `plan`."""
    tokenizers = [Tokenizer.from_str(t.to_str()) for t in (original, trimmed)]
    for t in tokenizers:
        t.no_truncation()
        t.no_padding()
    unk_old, unk_new = (t.token_to_id("<unk>") for t in tokenizers)
    tokens = changed = unknown = 0
    for a, b in zip(*(t.encode_batch(texts) for t in tokenizers), strict=True):
        old, new = _ids_by_word(a.ids, a.word_ids), _ids_by_word(b.ids, b.word_ids)
        for word, ids in old.items():
            tokens += len(ids)
            mapped = [plan.kept[i] for i in new.get(word, [])]
            if mapped != ids:
                changed += len(ids)
                unknown += unk_new in new.get(word, []) and unk_old not in ids
    return TokenDrift(tokens=tokens, changed=changed, unknown=unknown)


def _ids_by_word(ids: list[int], word_ids: list[int | None]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i, word in zip(ids, word_ids, strict=True):
        if word is not None:
            out.setdefault(word, []).append(i)
    return out


def training_texts(model: TwinBERT, data: str, word_list: Path | None) -> list[str]:
    """What the kept pieces are chosen from: the train split's queries and ads as each tower sees them (with
    the model's prefixes), plus the word list's words. Never dev or test."""
    from offline.data.qadsm import pair_ad_texts, read_split

    c = model.config
    train = read_split(data, "train")
    texts = [c.query_prefix + q for q in train.query] + [c.ad_prefix + a for a in pair_ad_texts(train)]
    return texts + (word_list_texts(word_list) if word_list is not None else [])
