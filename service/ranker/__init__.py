"""Ranking core: bundle snapshot, query batching, crossing head, auction. No FastAPI; benchmarks call it."""
