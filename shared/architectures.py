"""Architectures registered by name, so a checkpoint rebuilds its model from JSON alone, within bounds.

A configuration usually comes from a file someone else wrote (a checkpoint sidecar, a package header), so
:func:`build_model` checks it before any weight is allocated: the name must be registered; the config a JSON object
whose keys are the builder's parameters; each value of the type of the parameter's default (integers in
[0, 65536], never booleans; finite numbers of magnitude at most 1e6; plain-name strings of at most 64 characters;
lists of at most 64 such values); and the model, first built on PyTorch's ``meta`` device (shapes only, no memory),
at most 2**28 tensor values (1 GiB of float32). :func:`model_shapes` gives those shapes so that a caller can compare
them with a weights file before loading it.

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
import math
import re
from collections.abc import Callable
from typing import Any

import torch

from shared.errors import ConfigError

ModelBuilder = Callable[..., torch.nn.Module]
_REGISTRY: dict[str, ModelBuilder] = {}

#: A registered architecture name, and a plain string config value.
ARCH_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}")
MAX_CONFIG_INT = 2**16
MAX_CONFIG_FLOAT = 1e6
MAX_CONFIG_ITEMS = 64
#: Most tensor values (parameters and buffers) a configuration may describe.
MAX_MODEL_VALUES = 2**28


#: Entry-point group through which an installed package names the builders it registers, so that a checkpoint of
#: its architecture loads in a program that never imported it (``dnnsec verify`` on a sferic CNN copy): the entry
#: point ``sferic_unet = "amt.sferic.model:sferic_unet"`` imports that module on first use of the name.
ENTRY_POINT_GROUP = "amt_dnnsec.architectures"


def _load_installed(name: str) -> None:
    """Import the module an installed entry point names for architecture ``name`` (registering it), if any.

    Every installed distribution is searched, not only the first of each name, so that a stale build folder
    (``*.egg-info`` beside the sources) cannot hide the installed metadata.
    """
    from importlib.metadata import distributions

    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP and ep.name == name:
                ep.load()
                return


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering ``builder(**config) -> nn.Module`` under ``name`` (see :data:`ARCH_NAME`)."""
    if not ARCH_NAME.fullmatch(name):
        raise ConfigError(f"model name {name!r} is not a plain name ({ARCH_NAME.pattern})")

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


def _check_value(value: Any, like: Any, field: str, source: str) -> None:
    """Raise ConfigError unless ``value`` is a bounded JSON value of the kind of the default ``like``."""
    where = f"{source}: config field {field!r}"
    if isinstance(like, bool):
        if type(value) is not bool:
            raise ConfigError(f"{where} must be true or false, not {value!r:.40}")
    elif isinstance(like, int):
        if type(value) is not int:
            raise ConfigError(f"{where} must be an integer, not {type(value).__name__} {value!r:.40}")
        if not 0 <= value <= MAX_CONFIG_INT:
            raise ConfigError(f"{where} = {value} is outside [0, {MAX_CONFIG_INT}]")
    elif isinstance(like, float):
        if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > MAX_CONFIG_FLOAT:
            raise ConfigError(f"{where} must be a finite number of magnitude at most {MAX_CONFIG_FLOAT:g}, "
                              f"not {value!r:.40}")
    elif isinstance(like, str):
        if not isinstance(value, str) or not _PLAIN.fullmatch(value):
            raise ConfigError(f"{where} must be a plain name ({_PLAIN.pattern}), not {value!r:.80}")
    elif isinstance(like, list | tuple):
        if not isinstance(value, list | tuple) or len(value) > MAX_CONFIG_ITEMS:
            raise ConfigError(f"{where} must be a list of at most {MAX_CONFIG_ITEMS} values, not {value!r:.80}")
        for i, item in enumerate(value):
            _check_value(item, like[0] if like else None, f"{field}[{i}]", source)
    elif value is not None:  # no default to compare with: any bounded scalar
        kinds = {bool: False, int: 0, float: 0.0, str: ""}
        if type(value) not in kinds:
            raise ConfigError(f"{where} must be a number, a plain name or true/false, not {value!r:.80}")
        _check_value(value, kinds[type(value)], field, source)


def check_config(name: Any, config: Any, source: str = "config") -> dict[str, Any]:
    """Validate an architecture name and its config against the builder; return the config as a dict.

    Raises
    ------
    ConfigError
        Naming ``source`` and the field: an unregistered or non-plain name, a config that is not an object, keys
        the builder does not take or required ones missing, or a value of the wrong type or out of bounds.
    """
    if not isinstance(name, str) or not ARCH_NAME.fullmatch(name):
        raise ConfigError(f"{source}: field 'arch' must be a plain architecture name, not {name!r:.80}")
    if name not in _REGISTRY:
        _load_installed(name)
    if name not in _REGISTRY:
        raise ConfigError(
            f"{source}: unknown architecture {name!r}; registered: {', '.join(registered_models()) or 'none'} "
            "(import the module that defines it first)"
        )
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: field 'config' must be a JSON object, not {type(config).__name__} "
                          f"{config!r:.60}")
    builder = _REGISTRY[name]
    params = inspect.signature(builder).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not all(isinstance(k, str) for k in config):
        raise ConfigError(f"{source}: config keys must be strings")
    if not accepts_any:
        unknown = sorted(set(config) - set(params))
        if unknown:
            raise ConfigError(f"{source}: architecture {name!r} has no parameter(s) {unknown!r:.120}; "
                              f"it takes {sorted(params)}")
    missing = sorted(
        k
        for k, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and k not in config
    )
    if missing:
        raise ConfigError(f"{source}: architecture {name!r} needs parameter(s) {missing}")
    for key, value in config.items():
        p = params.get(key)
        like = p.default if p is not None and p.default is not inspect.Parameter.empty else None
        _check_value(value, like, key, source)
    return dict(config)


def _construct(name: str, config: dict[str, Any], source: str) -> torch.nn.Module:
    try:
        return _REGISTRY[name](**config)
    except (TypeError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise ConfigError(f"{source}: architecture {name!r} cannot be built from config {config!r:.120}: "
                          f"{exc}") from None


def model_shapes(name: Any, config: Any, source: str = "config") -> dict[str, tuple[torch.dtype, tuple[int, ...]]]:
    """Dtype and shape of every state-dict tensor of the checked architecture, without allocating any memory.

    The model is built on the ``meta`` device; ConfigError if it would hold more than :data:`MAX_MODEL_VALUES`
    values.
    """
    config = check_config(name, config, source)
    with torch.device("meta"):
        model = _construct(name, config, source)
    state = model.state_dict()
    n_values = sum(t.numel() for t in state.values())
    if n_values > MAX_MODEL_VALUES:
        raise ConfigError(f"{source}: architecture {name!r} with config {config!r:.120} has {n_values} tensor "
                          f"values; at most {MAX_MODEL_VALUES} allowed")
    return {k: (t.dtype, tuple(t.shape)) for k, t in state.items()}


def build_model(name: Any, config: Any = None, source: str = "config") -> torch.nn.Module:
    """Build the architecture ``name`` with keyword ``config``, after :func:`model_shapes` checked it.

    Raises
    ------
    ConfigError
        If ``name`` is not registered, ``config`` has keys the builder does not take, lacks required ones, holds a
        value of the wrong type or out of bounds, or describes a model above the size bound; ``source`` (a file)
        is named in the message.
    """
    model_shapes(name, config, source)
    return _construct(name, dict(config or {}), source)
