"""The offline side, by stage of the data's journey: `data/` (QADSM pairs, ad catalogs, the unlabelled pool)
→ `distill/` (teacher, scoring, student, baselines, calibration: the resumable stage list) → `evaluation/`
(metrics and the report) → `export/` (ONNX graphs, parity, int8, quality) → `publish/` (catalog encoding,
FAISS index, bundle versions). Errors: `offline.errors`. Needs the offline extras (torch)."""
