"""Tiny case modules for the runner's own test (the runner is what is under test, not these)."""
