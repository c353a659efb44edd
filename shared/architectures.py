"""Architectures registered by name, so a checkpoint rebuilds its model from JSON alone.

Examples
--------
>>> import torch
>>> @register_model("doc_mlp")
... def doc_mlp(n_in: int = 2, n_hidden: int = 8) -> torch.nn.Module:
...     return torch.nn.Sequential(torch.nn.Linear(n_in, n_hidden), torch.nn.ReLU(), torch.nn.Linear(n_hidden, 1))
>>> build_model("doc_mlp", {"n_hidden": 4})[0].out_features
4
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from shared.errors import ConfigError

ModelBuilder = Callable[..., torch.nn.Module]
_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering ``builder(**config) -> nn.Module`` under ``name``."""

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != builder.__qualname__:
            raise ConfigError(f"model name {name!r} is already registered by {existing.__module__}")
        _REGISTRY[name] = builder
        return builder

    return decorate


def registered_models() -> list[str]:
    """Names of all registered architectures."""
    return sorted(_REGISTRY)


def build_model(name: str, config: dict[str, Any] | None = None) -> torch.nn.Module:
    """Build the architecture ``name`` with keyword ``config``.

    Raises
    ------
    ConfigError
        If ``name`` is not registered, or ``config`` has keys the builder does not take or lacks
        required ones.
    """
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown architecture {name!r}; registered: {', '.join(registered_models()) or 'none'} "
            "(import the module that defines it first)"
        )
    builder = _REGISTRY[name]
    config = dict(config or {})
    params = inspect.signature(builder).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not accepts_any:
        unknown = sorted(set(config) - set(params))
        if unknown:
            raise ConfigError(f"architecture {name!r} has no parameter(s) {unknown}; it takes {sorted(params)}")
    missing = sorted(
        k
        for k, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and k not in config
    )
    if missing:
        raise ConfigError(f"architecture {name!r} needs parameter(s) {missing}")
    return builder(**config)
