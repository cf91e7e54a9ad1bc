"""One registry for backends keyed by a ``type`` literal (node kinds, detectors, STT, power and NAS
backends, sinks, ...).

An entry is added under its key, either as the object itself or as a ``"module:attribute"``
path imported when it is first asked for (hardware libraries load only when used). An entry
whose import fails is skipped with a log line and named in the error for an unknown type, as
Frigate does with its detector plugins. An unknown type is a :class:`UnknownType` listing the
known ones.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from spark.core.errors import SparkError

log = logging.getLogger(__name__)

T = TypeVar("T")


class UnknownType(SparkError, KeyError):
    """No backend is registered under the asked-for type (a ``KeyError`` too)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TypeRegistry(Generic[T]):
    """Entries by key: ``add``/``register`` them, ``get`` one; ``what`` names them in errors
    (``"power backend"``); ``error`` is the exception for an unknown key (it takes the message)."""

    def __init__(self, what: str, entries: Mapping[str, T | str] | None = None,
                 error: Callable[[str], Exception] = UnknownType) -> None:
        self.what = what
        self._error = error
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}  # key -> "module:attribute", not imported yet
        self._skipped: dict[str, str] = {}  # key -> why its import failed
        for key, entry in (entries or {}).items():
            self.add(key, entry)

    def add(self, key: str, entry: T | str) -> None:
        """Register ``entry`` under ``key``; a ``str`` is a ``"module:attribute"`` path."""
        if key in self._entries or key in self._lazy:
            raise ValueError(f"{self.what} {key!r} is registered twice")
        if isinstance(entry, str):
            self._lazy[key] = entry
        else:
            self._entries[key] = entry

    def register(self, entry: T) -> T:
        """Class decorator: register ``entry`` under its ``type`` class attribute."""
        self.add(str(getattr(entry, "type")), entry)  # noqa: B009 - any class with a type
        return entry

    def get(self, key: str) -> T:
        """The entry for ``key``; :class:`UnknownType` (or ``error``) names the known keys."""
        if not self._resolved(key):
            raise self._error(self._unknown(key))
        return self._entries[key]

    def _load(self, key: str) -> None:
        target = self._lazy.pop(key)
        module, _, name = target.partition(":")
        try:
            self._entries[key] = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            self._skipped[key] = f"{type(exc).__name__}: {exc}"
            log.warning("%s %r is not available here (%s); skipped", self.what, key,
                        self._skipped[key])

    def _unknown(self, key: str) -> str:
        text = f"unknown {self.what} {key!r}; known: {', '.join(self.keys()) or 'none'}"
        if key in self._skipped:
            text += f" ({key!r} is skipped: {self._skipped[key]})"
        return text

    def values(self) -> list[T]:
        """Every entry, importing the lazy ones (an import that fails is skipped, logged)."""
        return [self._entries[k] for k in self.keys() if self._resolved(k)]

    def _resolved(self, key: str) -> bool:
        if key in self._lazy:
            self._load(key)
        return key in self._entries

    def keys(self) -> list[str]:
        """The registered keys, sorted (those whose import failed are left out)."""
        return sorted({*self._entries, *self._lazy})

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"TypeRegistry({self.what!r}, {self.keys()})"
