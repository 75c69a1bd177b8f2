"""The model side of a loaded bundle: the query and ad towers (tokenizer + ONNX session) and the residual head,
each keyed by the digests of the files it was opened from and the manifest values it depends on.

A later bundle version whose part has the same key (an ad-only `index update`, a rollback to the same model)
takes that part over instead of opening it again: no re-hash of its files, no new ONNX session, and, when
the query tower is taken over, the query-vector cache stays valid. Parts are taken over from the bundle being
served and from the model it replaced (kept as a spare, so a rollback after a new model reopens nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from service.bundle import Manifest
from service.runtime.heads import ResHead
from service.runtime.onnx_model import OnnxModel
from service.runtime.towers import ROUTES, OnnxTower
from service.settings import Settings

RES = "res"


@dataclass(frozen=True)
class PartKey:
    """What a part's behaviour depends on; two equal keys give the same outputs for the same inputs."""

    digests: tuple[str, ...]
    params: tuple
    files: tuple[str, ...] = field(compare=False)  # the file names in the bundle it came from

    @property
    def text_key(self) -> tuple:
        """What a tower's tokenizer depends on: the tokenizer file's digest, the prefix and the length limit."""
        return (self.digests[-1], *self.params[:2])


def part_keys(m: Manifest, int8: bool) -> dict[str, PartKey]:
    """The key of every part the bundle has: "query", "ad" and, with a residual head, "res"."""
    keys = {}
    for route in ROUTES:
        onnx = getattr(m.encoders, route).file("int8" if int8 else "fp32")
        prefix, max_len = (m.model.query_prefix, m.model.query_max_len) if route == "query" else (
            m.model.ad_prefix, m.model.ad_max_len)
        keys[route] = PartKey((m.files[onnx], m.files[m.tokenizer]), (prefix, max_len, m.model.dim),
                              (onnx, m.tokenizer))
    if m.heads.res is not None:
        keys[RES] = PartKey((m.files[m.heads.res.file],), (m.model.dim,), (m.heads.res.file,))
    return keys


class ModelParts:
    """The towers and head of one bundle; parts shared with the bundle it was loaded beside are the same objects."""

    def __init__(self, keys: dict[str, PartKey], parts: dict[str, object], reused: frozenset[str]) -> None:
        self.keys = keys
        self.parts = parts
        self.reused = reused

    @classmethod
    def open(cls, d: Path, m: Manifest, settings: Settings, providers: list[str],
             donors: tuple[ModelParts, ...] = ()) -> ModelParts:
        """Take over what the `donors` hold (the first one that has a part gives it), open the rest from `d`."""
        keys = part_keys(m, settings.encoder_precision == "int8")
        parts: dict[str, object] = {}
        s = settings
        for name, key in keys.items():
            donor = next((x for x in donors if x.keys.get(name) == key), None)
            if donor is not None:
                parts[name] = donor.parts[name]
            elif name == RES:
                assert m.heads.res is not None
                parts[name] = ResHead(OnnxModel(d / m.heads.res.file, providers, s.ort_intra_op_threads,
                                                s.ort_inter_op_threads, ("q", "a")))
            else:
                # A new ONNX graph over the same tokenizer (a retrained model, the same vocabulary) keeps the loaded
                # tokenizer: loading one holds the GIL for tens of ms, a stall for every request thread.
                text = next((x.tower(name).text for x in donors if name in x.keys
                             and x.keys[name].text_key == key.text_key), None)
                parts[name] = OnnxTower.from_manifest(d, m, name, s.encoder_precision == "int8",
                                                      s.ort_intra_op_threads, providers, s.ort_inter_op_threads,
                                                      text)
        reused = frozenset(n for n in keys if any(x.parts.get(n) is parts[n] for x in donors))
        return cls(keys, parts, reused)

    def shares(self, name: str, other: ModelParts) -> bool:
        """Whether part `name` here is the very object `other` holds (one was taken over from the other)."""
        return name in other.parts and other.parts[name] is self.parts.get(name)

    def tower(self, route: str) -> OnnxTower:
        part = self.parts[route]
        assert isinstance(part, OnnxTower)
        return part

    @property
    def res(self) -> ResHead | None:
        part = self.parts.get(RES)
        assert part is None or isinstance(part, ResHead)
        return part
