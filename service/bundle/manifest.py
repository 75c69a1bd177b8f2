"""The bundle manifest: the one schema both sides read (`offline/` writes it, `service/` loads it).

Torch-free on purpose: only pydantic and the standard library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.bundle.errors import BundleError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
INDEX_FILE = "ads.faiss"
ADS_TABLE_FILE = "ads.parquet"
VECTORS_FILE = "ad_vectors.npy"
AD_COLUMNS = ("ad_id", "title", "description", "bid", "p_click")
SERVING_AD_COLUMNS = ("ad_id", "bid", "p_click")  # what the service holds in memory: no texts


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInfo(_Strict):
    """The student behind the bundle and how its texts are formed."""

    base: str
    model_id: str = Field("", description="the exported student: directory name @ a digest of its files")
    recipe: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)
    query_prefix: str = ""
    ad_prefix: str = ""
    ad_separator: str = " "
    query_max_len: int = Field(gt=0)
    ad_max_len: int = Field(gt=0)
    dim: int = Field(gt=0)
    versions: dict[str, str] = Field(default_factory=dict)


class EncoderFiles(_Strict):
    """ONNX files of one tower: inputs `input_ids`, `attention_mask` int64 (batch, seq); output `embedding`.

    A shipped model may carry only its int8 graphs (the fp32 ones are four times the size), so either may be
    absent, not both.
    """

    fp32: str | None = None
    int8: str | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> EncoderFiles:
        if not (self.fp32 or self.int8):
            raise ValueError("a tower needs an fp32 or an int8 file")
        return self

    def file(self, precision: Literal["fp32", "int8"]) -> str:
        """The file of `precision`, else the one the tower has."""
        preferred, other = (self.int8, self.fp32) if precision == "int8" else (self.fp32, self.int8)
        return preferred or other  # type: ignore[return-value]  # the validator ensures one is set


class Encoders(_Strict):
    query: EncoderFiles
    ad: EncoderFiles


class CosParams(_Strict):
    """logit = scale · (q · a) + bias."""

    scale: float
    bias: float


class ResHeadRef(_Strict):
    """ONNX residual head: inputs `q`, `a` float32 (n, dim), output `logit` (n,)."""

    file: str


class Heads(_Strict):
    cos: CosParams
    res: ResHeadRef | None = None


class Calibration(_Strict):
    """relevance = sigmoid(a · logit + b), applied to the logit of `head`."""

    head: Literal["res", "cos"] = "res"
    kind: Literal["platt", "temperature", "identity"] = "identity"
    a: float = 1.0
    b: float = 0.0


class IndexInfo(_Strict):
    """The FAISS index (a CPU index; FAISS id = row number in the ad table and the vectors file)."""

    factory: str
    metric: Literal["ip"] = "ip"
    search_params: dict[str, int | float] = Field(default_factory=dict)
    n_ads: int = Field(ge=0)
    file: str = INDEX_FILE
    ads_file: str = ADS_TABLE_FILE
    vectors_file: str = VECTORS_FILE
    vectors_dtype: Literal["float32", "int8"] = "float32"
    vectors_scale: float | None = None
    device_built: str = "cpu"

    @model_validator(mode="after")
    def _scale_for_int8(self) -> IndexInfo:
        if self.vectors_dtype == "int8" and not (self.vectors_scale and self.vectors_scale > 0):
            raise ValueError("vectors_dtype int8 needs a positive vectors_scale (float = int8 · scale)")
        return self


class Manifest(_Strict):
    format_version: Literal[1] = FORMAT_VERSION
    bundle_version: str
    created_at: str
    parent_version: str | None = None
    model: ModelInfo
    encoders: Encoders
    heads: Heads
    calibration: Calibration
    index: IndexInfo
    tokenizer: str = TOKENIZER_FILE
    files: dict[str, str] = Field(description="relative file name -> sha256 hex, for every file but the manifest")

    @field_validator("files")
    @classmethod
    def _plain_names(cls, files: dict[str, str]) -> dict[str, str]:
        for name, digest in files.items():
            if not _is_plain_name(name):
                raise ValueError(f"file name {name!r} must be a plain relative name inside the bundle")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"sha256 of {name!r} is not 64 lowercase hex digits")
        return files

    @model_validator(mode="after")
    def _referenced_files_listed(self) -> Manifest:
        missing = [f for f in self.referenced_files() if f not in self.files]
        if missing:
            raise ValueError(f"files referenced but not listed with a sha256: {missing}")
        return self

    def referenced_files(self) -> list[str]:
        """Every file the manifest points at (each must also appear in `files`)."""
        out = [self.tokenizer, self.index.file, self.index.ads_file, self.index.vectors_file]
        out += [f for e in (self.encoders.query, self.encoders.ad) for f in (e.fp32, e.int8) if f]
        if self.heads.res is not None:
            out.append(self.heads.res.file)
        return out

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"


def ad_text(title: str, description: str, separator: str = " ") -> str:
    """The ad text the ad tower sees, joined by the manifest's `ad_separator` (equals `models.text.ad_text`)."""
    return f"{title}{separator}{description}".strip()


def _is_plain_name(name: str) -> bool:
    p = Path(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and name != MANIFEST_NAME


def load_manifest(version_dir: str | Path) -> Manifest:
    """Read and validate `manifest.json`; a missing or invalid one raises `BundleError` naming the file."""
    path = Path(version_dir) / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{path}: missing (not a bundle, or a half-written one)", path, reason="manifest")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: unreadable manifest ({e})", path, reason="manifest") from e
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(root)"
        raise BundleError(f"{path}: invalid manifest at {where}: {first['msg']}", path, reason="manifest") from e
