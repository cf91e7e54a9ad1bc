"""Finds the platform modules: every module of this package that defines a ``Platform``
subclass with a ``name`` is that platform. Nothing to register: adding ``lock.py`` adds ``lock``.

The scan runs on first use (not at import) and is cached for the process: the package's contents
do not change while it runs. ``base`` is imported inside the functions because discovery's parser
(``core.discovery.schema``) imports this module while ``base`` imports discovery's models.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spark.core.discovery.models import DiscoveredEntity
    from spark.core.platforms.base import Platform

log = logging.getLogger(__name__)

_PACKAGE = __name__.rpartition(".")[0]
_NOT_PLATFORMS = frozenset({"base", "catalogue"})


@functools.cache
def catalogue() -> Mapping[str, Platform]:
    """Every platform module's platform, by name."""
    from spark.core.platforms.base import Platform

    package = importlib.import_module(_PACKAGE)
    found: dict[str, Platform] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in _NOT_PLATFORMS:
            continue
        module = importlib.import_module(f"{_PACKAGE}.{info.name}")
        for obj in vars(module).values():
            if not (isinstance(obj, type) and issubclass(obj, Platform)):
                continue
            cls: type[Platform] = obj
            if cls.name and cls.__module__ == module.__name__:
                if cls.name in found:
                    raise TypeError(f"platform {cls.name!r} is defined twice ({module.__name__})")
                found[cls.name] = cls()
    return MappingProxyType(found)


@functools.cache
def platform_for(name: str) -> Platform:
    """The platform called ``name``; one without a module gets the plain :class:`Platform`."""
    from spark.core.platforms.base import Platform

    return catalogue().get(name) or Platform()


def schema_for(name: str) -> type[DiscoveredEntity]:
    return platform_for(name).Schema


@functools.cache
def service_names() -> tuple[str, ...]:
    """Every platform's services, each once, in catalogue order."""
    return tuple(dict.fromkeys(s for p in catalogue().values() for s in p.services))


def with_words(test: str) -> frozenset[str]:
    """Platforms whose :class:`~core.platforms.base.Words` flag ``test`` is set (or not None)."""
    return frozenset(name for name, p in catalogue().items()
                     if getattr(p.words, test))


def voice_services() -> tuple[str, ...]:
    """Every service voice may call: what each platform's words name (its on / off / press
    services, ``toggle`` where switchable, its level's service, ``set_value`` /
    ``select_option`` for a number or option setter). The hub's default grant for the voice
    account (``hub/policy.py``)."""
    out: set[str] = set()
    for platform in catalogue().values():
        words = platform.words
        if words.switchable:
            out |= {words.on_service, words.off_service, "toggle"}
        if words.on_verbs:
            out.add(words.on_service)
        if words.off_verbs:
            out.add(words.off_service)
        if words.pressable:
            out.add(words.press_service)
        if words.level is not None:
            out.add(words.level.service)
        elif words.setter == "number":
            out.add("set_value")
        if words.setter == "option":
            out.add("select_option")
    return tuple(sorted(out))
