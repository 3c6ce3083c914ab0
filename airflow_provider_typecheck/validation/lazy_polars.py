"""Polars, imported on first use.

Importing Polars costs 0.15-0.2 s, more than a whole check of a small CSV file
through the native pre-scan, which never touches a frame when it clears every
row. The validation core's modules therefore write
``from airflow_provider_typecheck.validation.lazy_polars import polars as pl``
and use ``pl`` as usual: the first attribute read (``pl.DataFrame``, ...) imports
Polars, and each name is then an ordinary attribute of this stand-in.
Python's import lock makes two threads asking at once import it once.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any


class _LazyPolars(types.ModuleType):
    """Stands in for the ``polars`` module until a name of it is read."""

    def __getattr__(self, name: str) -> Any:  # only called for names not set yet
        if name.startswith("__"):  # copy, pickle and inspect probe dunders: no reason to import
            raise AttributeError(name)
        value = getattr(importlib.import_module("polars"), name)
        setattr(self, name, value)
        return value


if TYPE_CHECKING:
    import polars
else:
    polars = _LazyPolars("polars", "Polars, imported on first use (see lazy_polars).")
