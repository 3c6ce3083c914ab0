"""Where a file named by a path or URI lives: the one rule turning a ``file://`` URI or a plain path into a local path.

Imports nothing but the standard library, so the file store, the row outputs
and the readers all share it without loading Polars.
"""

from __future__ import annotations

LOCAL_PREFIX = "file://"


def local_path(uri: str) -> str | None:
    """The local path behind a plain path or a ``file://`` URI, else None (a remote URI, read through fsspec).

    ``file:///srv/a.csv`` -> ``/srv/a.csv``; ``data/a.csv`` -> ``data/a.csv``;
    ``s3://bucket/a.csv`` -> None. The text after ``file://`` is taken as it
    stands (no percent-decoding), as fsspec's local filesystem takes it.
    """
    if "://" not in uri:
        return uri
    if uri.startswith(LOCAL_PREFIX):
        return uri[len(LOCAL_PREFIX):]
    return None


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names a file that only fsspec can reach (not a local path or ``file://`` URI)."""
    return local_path(uri) is None
