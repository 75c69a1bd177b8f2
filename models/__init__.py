"""PyTorch modules of the recipe: towers, TwinBERT and its crossing heads, the cross-encoder teacher, CDSSM,
distillation losses and the packaged base encoders. Imports neither `offline/` nor `service/`."""
