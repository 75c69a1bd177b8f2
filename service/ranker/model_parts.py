"""The model side of a loaded bundle: the query and ad towers (tokenizer + ONNX session) and the residual head,
each keyed by the digests of the files it was opened from and the manifest values it depends on.

A later bundle version whose part has the same key (an ad-only `index update`, a rollback to the same model)
takes that part over instead of opening it again: no re-hash of its files, no new ONNX session, and, when
the query tower is taken over, the query-vector cache stays valid.
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

    @staticmethod
    def reusable(m: Manifest, settings: Settings, previous: ModelParts | None) -> frozenset[str]:
        """The parts of bundle `m` that `previous` already holds."""
        if previous is None:
            return frozenset()
        keys = part_keys(m, settings.encoder_precision == "int8")
        return frozenset(name for name, key in keys.items() if previous.keys.get(name) == key)

    @classmethod
    def open(cls, d: Path, m: Manifest, settings: Settings, providers: list[str],
             previous: ModelParts | None = None) -> ModelParts:
        """Take over what `previous` has, open the rest from `d`."""
        keys = part_keys(m, settings.encoder_precision == "int8")
        reused = cls.reusable(m, settings, previous)
        parts: dict[str, object] = {}
        s = settings
        for name in keys:
            if name in reused:
                assert previous is not None
                parts[name] = previous.parts[name]
            elif name == RES:
                assert m.heads.res is not None
                parts[name] = ResHead(OnnxModel(d / m.heads.res.file, providers, s.ort_intra_op_threads,
                                                s.ort_inter_op_threads, ("q", "a")))
            else:
                parts[name] = OnnxTower.from_manifest(d, m, name, s.encoder_precision == "int8",
                                                      s.ort_intra_op_threads, providers, s.ort_inter_op_threads)
        return cls(keys, parts, reused)

    def tower(self, route: str) -> OnnxTower:
        part = self.parts[route]
        assert isinstance(part, OnnxTower)
        return part

    @property
    def res(self) -> ResHead | None:
        part = self.parts.get(RES)
        assert part is None or isinstance(part, ResHead)
        return part
