"""`twinrank index` / `bundle`: a model directory + an ad catalog → encoded ads, a FAISS index and an
atomically published bundle version (the contract is `service.bundle`); incremental updates; rollback; the
default bundle `make serve` builds."""
