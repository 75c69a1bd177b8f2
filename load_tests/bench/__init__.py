"""`twinrank bench` and `twinrank scale-bench`: the benchmarks, one module per part (`runner` runs them and
`report` writes perf.json/perf.md). The one part of `load_tests/` that brings in `offline/`, `models/` and the
service's runtime: it builds the models and bundles it measures."""
