"""The `twinrank` command: one typer app (`app.py`) that registers each area's commands (`distill`, `publish`,
`serve`, `load`, `bench`) and maps their expected errors to one-line messages and exit codes in one place
(`errors.py`). Commands import their area's engines only when they run, so `twinrank serve` and
`twinrank loadtest` work in installs without torch."""
