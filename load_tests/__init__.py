"""Load tests and benchmarks: the open-loop generator (`generator/`), the tools people run (`tools/`) and the
benchmarks (`bench/`). The generator and the tools need the `load` extra only: they import no `offline/`,
`models/` or torch, and reach the service only over HTTP (and, where a file is read, the bundle contract
`service.bundle`); `bench/` alone brings offline and models in (contracts in pyproject.toml)."""
