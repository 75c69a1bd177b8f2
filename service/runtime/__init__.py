"""ONNX Runtime and FAISS behind plain functions, numpy in and out; no FastAPI, no torch. The only layer that
opens a bundle's models: the ranker, `/readyz`, the bundle checks, offline parity and quality checks and the
benchmarks all run them through here."""
