"""The bundle contract, shared by `offline/` (writer) and `service/` (reader). Torch-free.

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
    load_manifest,
)
from service.bundle.runtime import OnnxTower, ad_text, calibrate, cos_logits, dequantize
from service.bundle.smoke import smoke_test
from service.bundle.verify import verify_bundle, verify_checksums

__all__ = [
    "AD_COLUMNS", "ADS_TABLE_FILE", "CURRENT_NAME", "FORMAT_VERSION", "INDEX_FILE", "MANIFEST_NAME",
    "TOKENIZER_FILE", "VECTORS_FILE", "BundleError", "Calibration", "CosParams", "EncoderFiles", "Encoders",
    "Heads", "IndexInfo", "Manifest", "ModelInfo", "ResHeadRef", "current_version_dir", "load_manifest",
    "read_current", "resolve", "sha256_file", "smoke_test", "OnnxTower", "ad_text", "calibrate",
    "cos_logits", "dequantize", "verify_bundle", "verify_checksums", "version_dirs", "version_seq",
]
