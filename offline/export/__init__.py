"""`twinrank export`: a TwinBERT checkpoint → a model directory of ONNX graphs (parity-checked against
PyTorch, int8 variants), tokenizer and `model.json`; optional ROC-AUC of the exported graphs on QADSM."""
