"""sha256 of files, in a process of its own at the lowest CPU priority; run by path, so it imports only the
standard library: `python -I -S hash_worker.py FILE...` prints {"FILE": "hex digest", ...} as one JSON line.

The serving process uses it to check a new bundle's files while it serves the old one: the digests are
computed on a core the scheduler gives to serving first (nice 19), and no thread of the server holds the GIL
or competes at normal priority for it.
"""

import hashlib
import json
import os
import sys

_CHUNK = 1 << 20


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def main(paths: list[str]) -> None:
    os.nice(19)
    json.dump({p: sha256_file(p) for p in paths}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
