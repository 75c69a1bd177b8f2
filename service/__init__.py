"""The ranking service: `api` (FastAPI) → `ranker` → `runtime` (ONNX Runtime, FAISS) → `bundle` (the contract).
No torch."""
