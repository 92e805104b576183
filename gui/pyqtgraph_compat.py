"""A shim for pyqtgraph 0.14's SVG exporter under Qt >= 6.10.

Qt's SVG generator now closes sub-paths with a separate ``Z`` token (``d="M0,0 L10,0 L10,5 L0,5 L0,0 Z"``);
pyqtgraph's ``correctCoordinates`` expects every token to be an ``x,y`` pair and raises
``ValueError: not enough values to unpack`` on it, so *every* plot fails to export as SVG (the plot
background is such a path). Reported upstream as pyqtgraph/pyqtgraph#3485. The shim drops the ``Z``
tokens before pyqtgraph rewrites the coordinates: Qt's closed paths already end on their first point,
so only the line join at that one corner changes. Remove this module once pyqtgraph handles ``Z``.
"""

from __future__ import annotations

import importlib
from typing import Any

_CLOSE = frozenset({"Z", "z"})


def install_svg_fix() -> None:
    """Wrap ``pyqtgraph.exporters.SVGExporter.correctCoordinates`` (idempotent)."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates
    if getattr(original, "_chemaccel_fix", False):
        return

    def correct_coordinates(node: Any, defs: Any, item: Any, options: Any) -> Any:
        for path in node.getElementsByTagName("path"):
            tokens = path.getAttribute("d").split()
            if any(token in _CLOSE for token in tokens):
                path.setAttribute("d", " ".join(t for t in tokens if t not in _CLOSE))
        return original(node, defs, item, options)

    correct_coordinates._chemaccel_fix = True  # type: ignore[attr-defined]
    module.correctCoordinates = correct_coordinates
