"""The bundle contract, shared by `offline/` (writer), `service/` (reader) and the load tools: the on-disk
format and its file-level checks. Pure data: pydantic, numpy and pyarrow, no ONNX Runtime, FAISS or torch
(opening a bundle's models is `service.runtime`'s job, see `service.runtime.bundle_check`).

A bundle root holds immutable version directories (`v000001-…`) and a `CURRENT` file naming the current one.
"""

from service.bundle.errors import BundleError
from service.bundle.layout import (
    CURRENT_NAME,
    current_version_dir,
    read_current,
    resolve,
    sha256_file,
    version_dirs,
    version_seq,
)
from service.bundle.manifest import (
    AD_COLUMNS,
    ADS_TABLE_FILE,
    FORMAT_VERSION,
    INDEX_FILE,
    MANIFEST_NAME,
    TOKENIZER_FILE,
    VECTORS_FILE,
    Calibration,
    CosParams,
    EncoderFiles,
    Encoders,
    Heads,
    IndexInfo,
    Manifest,
    ModelInfo,
    ResHeadRef,
    ad_text,
    load_manifest,
)
from service.bundle.verify import verify_checksums, verify_contents, verify_files

__all__ = [
    "AD_COLUMNS", "ADS_TABLE_FILE", "CURRENT_NAME", "FORMAT_VERSION", "INDEX_FILE", "MANIFEST_NAME",
    "TOKENIZER_FILE", "VECTORS_FILE", "BundleError", "Calibration", "CosParams", "EncoderFiles", "Encoders",
    "Heads", "IndexInfo", "Manifest", "ModelInfo", "ResHeadRef", "ad_text", "current_version_dir",
    "load_manifest", "read_current", "resolve", "sha256_file", "verify_checksums", "verify_contents", "verify_files",
    "version_dirs", "version_seq",
]
