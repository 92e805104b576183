"""One way to build an engine's frozen config dataclass from JSON, shared by every engine.

Unknown keys are refused with one line that names them (a typo in a JSON file or a GUI form is an
error, not a silently ignored setting); JSON lists become tuples where the field is a tuple; a nested
``runtime`` mapping becomes a :class:`~chemaccel.runtime.RuntimeConfig` (with its own key check). The
dataclass's ``__post_init__`` then validates the values.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from chemaccel.errors import ConfigError

T = TypeVar("T")


def config_from_dict(cls: type[T], data: Mapping[str, Any], name: str) -> T:
    """``cls(**data)`` after the checks above; ``name`` ("prune", "nas search", ...) goes in the messages."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a {name} config must be a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {name} config key(s) {unknown}; known: {sorted(fields)}")
    values = dict(data)
    for key, value in values.items():
        if isinstance(value, list) and "tuple" in str(fields[key].type):
            values[key] = tuple(value)
    if "runtime" in fields and isinstance(values.get("runtime"), Mapping):
        from chemaccel.runtime import RuntimeConfig

        values["runtime"] = config_from_dict(RuntimeConfig, values["runtime"], "runtime")
    try:
        return cls(**values)
    except TypeError as exc:  # a required field missing
        raise ConfigError(f"{name} config: {exc}") from None
