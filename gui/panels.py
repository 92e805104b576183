"""The engine tabs of the main window, declared: one line per engine's panel.

Each entry names the engine (a key of :data:`chemaccel.engines.ENGINES`), the tab's title, the main
window's attribute that holds the panel, and how to build it from the window (``"module:Class"`` imported
when the window is built). Adding an engine's panel is its module and one line here;
``tests/gui/test_main_window.py`` checks that every registered engine has a tab.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PanelEntry:
    engine: str
    title: str
    attribute: str
    panel: str  # "module:Class"
    needs_molecules: bool = False  # built as Class(jobs, molecules_tab, export=..., parent=window)

    def build(self, window: Any) -> Any:
        module, _, name = self.panel.partition(":")
        cls = getattr(importlib.import_module(module), name)
        if self.needs_molecules:
            return cls(window.jobs, window.molecules, export=window.export_molecules, parent=window)
        return cls(window.jobs, window)


PANELS: tuple[PanelEntry, ...] = (
    PanelEntry("property", "Property", "property_panel", "chemaccel_gui.property_panel:PropertyPanel",
               needs_molecules=True),
    PanelEntry("reaction", "Reaction", "reaction_panel", "chemaccel_gui.reaction_panel:ReactionPanel"),
    PanelEntry("prune", "Train / prune", "prune_panel", "chemaccel_gui.prune_panel:PrunePanel"),
    PanelEntry("gan", "GAN", "gan_panel", "chemaccel_gui.gan_panel:GanPanel"),
    PanelEntry("nas", "NAS", "nas_panel", "chemaccel_gui.nas_panel:NasPanel"),
)
