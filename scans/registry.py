"""A named registry: the single source of names for configs, CLI choices and tests. An entry may be
registered lazily, by where it lives, so that the names are known before its module is imported."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Lazy:
    """An entry named by where it lives (``"package.module:attribute"``), imported on first use."""

    target: str

    def load(self) -> object:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


class Registry(Mapping[str, T], Generic[T]):
    """Names to entries, in registration order. Duplicates are refused; unknown names list the
    valid ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of ``add``."""
        return lambda entry: self.add(name, entry)

    def __getitem__(self, name: str) -> T:
        entry = self.declared(name)
        if isinstance(entry, Lazy):
            entry = self._entries[name] = entry.load()
        return entry

    def declared(self, name: str) -> T | Lazy:
        """The entry as registered: a lazy one stays unimported."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries))
            raise KeyError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries  # a name, without loading a lazy entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
