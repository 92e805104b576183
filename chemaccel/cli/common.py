"""Small helpers shared by the CLI modules: JSON output and argument types."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (NaN/inf become null so any JSON parser reads it)."""
    print(json.dumps(_finite(obj), indent=None, sort_keys=False))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def eprint(*parts: Any) -> None:
    print(*parts, file=sys.stderr)
