"""ONNX Runtime and FAISS behind plain functions: numpy in, numpy out; no FastAPI, no torch."""
