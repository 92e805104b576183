"""A grid of molecule depictions with their SMILES (generated molecules of a molecular GAN)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

CELL = QSize(170, 120)


class MoleculeGrid(QListWidget):
    """Icon-mode list: one cell per molecule, the depiction above its SMILES (an invalid sample says so)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("moleculeGrid")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(CELL)
        self.setGridSize(QSize(CELL.width() + 16, CELL.height() + 36))
        self.setWordWrap(True)
        self.setSpacing(4)
        self.setUniformItemSizes(True)

    def show_molecules(self, smiles: Sequence[str | None], pngs: Sequence[bytes | None]) -> None:
        """One cell per sample: ``smiles`` None is an invalid sample (no depiction)."""
        self.clear()
        for text, png in zip(smiles, pngs):
            item = QListWidgetItem(text or "(invalid)")
            item.setToolTip(text or "this sample is not a valid molecule")
            if png:
                pixmap = QPixmap()
                pixmap.loadFromData(png, "PNG")
                item.setIcon(QIcon(pixmap))
            self.addItem(item)
