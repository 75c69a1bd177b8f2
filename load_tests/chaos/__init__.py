"""The fault campaign: one module per case under `cases/`, run by `python -m load_tests.chaos`."""
