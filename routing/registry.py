"""Name -> router class registry and the :func:`load_router` factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from routing.base import Router

R = TypeVar("R", bound=type[Router])
_REGISTRY: dict[str, type[Router]] = {}


class UnknownRouterError(ValueError):
    """Raised by :func:`load_router` for a name that is not registered."""

    def __init__(self, name: str, choices: list[str]) -> None:
        self.name = name
        self.choices = choices
        super().__init__(f"unknown router {name!r}; expected one of: {', '.join(choices)}")


def register(name: str) -> Callable[[R], R]:
    """Class decorator: make a :class:`Router` subclass loadable as ``load_router(name)``."""

    def deco(cls: R) -> R:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"router {name!r} is already registered to {_REGISTRY[name]!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_routers() -> list[str]:
    """Sorted names of the registered routers."""
    return sorted(_REGISTRY)


def load_router(name: str = "classifier", **kwargs: Any) -> Router:
    """Build the router registered under ``name``; ``kwargs`` go to its constructor."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UnknownRouterError(name, available_routers()) from None
    return cls(**kwargs)
