"""`python -m cli …` is `twinrank …`."""

from cli.app import main

main()
