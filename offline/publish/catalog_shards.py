"""A catalog as shards: one file, a directory of files, or a comma-separated list, as local paths or any
pyarrow/fsspec filesystem URI (s3://, gs://, hdfs://, file://). A shard is the unit a distributed encode
resumes by, so a catalog that should resume part-way is written as several files."""

from __future__ import annotations

from dataclasses import dataclass

from offline.data.catalog import FORMATS
from offline.errors import CatalogError

RAY_FORMATS = ("jsonl", "parquet", "csv")


@dataclass(frozen=True)
class CatalogShard:
    uri: str  # as given or listed (the key a resume manifest records)
    path: str  # inside its filesystem
    size: int  # bytes, so an edited file is not taken for the one already encoded
    fmt: str


def _fs(uri: str):
    import pyarrow.fs as pafs

    if "://" not in uri:
        import os

        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except (ValueError, NotImplementedError):  # a scheme pyarrow lacks natively: through fsspec
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs, path = fsspec.core.url_to_fs(uri)
        return PyFileSystem(FSSpecHandler(fs)), path


def _fmt(name: str) -> str | None:
    for suffix, fmt in FORMATS.items():
        if name.lower().endswith(suffix):
            return fmt
    return None


def list_shards(catalog: str) -> tuple[object, list[CatalogShard]]:
    """(filesystem, shards in name order) of `catalog`; all shards on one filesystem, in one format."""
    import pyarrow.fs as pafs

    shards: list[CatalogShard] = []
    fs = None
    for uri in (u.strip() for u in str(catalog).split(",") if u.strip()):
        try:
            fs, path = _fs(uri)
        except Exception as exc:  # pyarrow raises several types for unknown schemes
            raise CatalogError(f"{uri}: cannot open this filesystem URI: {exc}") from exc
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise CatalogError(f"{uri}: no such file or directory")
        if info.type == pafs.FileType.Directory:
            found = [f for f in fs.get_file_info(pafs.FileSelector(path, recursive=False))
                     if f.type == pafs.FileType.File and _fmt(f.base_name) and not f.base_name.startswith((".", "_"))]
            if not found:
                raise CatalogError(f"{uri}: no .jsonl, .csv or .parquet files in this directory")
            base = uri.rstrip("/")
            shards += [CatalogShard(f"{base}/{f.base_name}", f.path, f.size, _fmt(f.base_name))
                       for f in sorted(found, key=lambda f: f.base_name)]
        else:
            fmt = _fmt(info.base_name)
            if fmt is None:
                raise CatalogError(f"{uri}: unknown catalog format (use .jsonl, .csv or .parquet)")
            shards.append(CatalogShard(uri, path, info.size, fmt))
    if not shards:
        raise CatalogError(f"{catalog!r}: no catalog files given")
    fmts = {s.fmt for s in shards}
    if len(fmts) > 1:
        raise CatalogError(f"{catalog}: mixed catalog formats {sorted(fmts)}; use one format for all shards")
    return fs, shards
