"""Things built on first use, once, however many threads ask at the same time.

The package's one way to defer a costly set-up (a client, a pool, a migration) from
construction to first use: nothing connects at import or in ``__init__``, and two
threads asking together never build two of anything. A build that raises is not
remembered, so the next caller tries again (a service that was down may be back).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

_T = TypeVar("_T")


class Once(Generic[_T]):
    """Call ``build`` on the first :meth:`get` and keep what it returned."""

    __slots__ = ("_build", "_done", "_lock", "_value")

    def __init__(self, build: Callable[[], _T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._done = False
        self._value: _T | None = None

    def get(self) -> _T:
        if not self._done:
            with self._lock:
                if not self._done:
                    self._value = self._build()
                    self._done = True
        return self._value  # type: ignore[return-value]

    @property
    def built(self) -> bool:
        """Whether :meth:`get` has built the value already."""
        return self._done


class built_once(Generic[_T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """A ``cached_property`` whose first computation holds the instance's ``_build_lock``.

    The owner creates ``self._build_lock = threading.RLock()`` (re-entrant: one property's
    build may use another's). Once built, the value sits in the instance's ``__dict__``
    and is read without a lock.
    """

    def __init__(self, build: Callable[[Any], _T]) -> None:
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> built_once[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        values = instance.__dict__
        if self.name not in values:
            with instance._build_lock:  # type: ignore[attr-defined]
                if self.name not in values:
                    values[self.name] = self.build(instance)
        return values[self.name]
