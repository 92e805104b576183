"""The details pane next to the molecule table: a large depiction and everything known about a record."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api
from chemaccel_gui.molecule_model import ERROR_COLOR, format_value

log = logging.getLogger("chemaccel_gui")

DEPICTION_SIZE = (360, 270)
MIN_PICTURE = (180, 200)


def record_fields(record: api.MoleculeRecord) -> list[tuple[str, str]]:
    """``(field, value)`` rows for the details table: identity, status, geometry, then every property."""
    if record.has_3d:
        three_d = f"yes ({record.geometry_source or 'file'})"
    else:
        three_d = "no"
    rows = [
        ("record", str(record.index)),
        ("file", record.source),
        ("name", record.name),
        ("SMILES", record.smiles),
        ("status", "ok" if record.ok else (record.error or "no molecule")),
        ("3D coordinates", three_d),
    ]
    if record.mol is not None:
        rows.append(("atoms", str(record.mol.GetNumAtoms())))
    elif record.numbers is not None:
        rows.append(("atoms", str(len(record.numbers))))
    if record.charge:
        rows.append(("charge", str(record.charge)))
    rows.extend((key, format_value(value)) for key, value in record.props.items())
    return rows


class PictureLabel(QLabel):
    """A label that shows its picture scaled down to fit (keeping the aspect ratio) as it is resized."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._picture: QPixmap | None = None

    def set_picture(self, pixmap: QPixmap | None) -> None:
        self._picture = pixmap
        self._fit()

    def picture(self) -> QPixmap | None:
        """The full-size picture (``pixmap()`` is the scaled one on screen)."""
        return self._picture

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._picture = None
        super().setText(text)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._picture is None or self._picture.isNull():
            return
        size = self.contentsRect().size()
        if size.width() >= self._picture.width() and size.height() >= self._picture.height():
            super().setPixmap(self._picture)
        else:
            super().setPixmap(self._picture.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation))


class MoleculeDetails(QWidget):
    """Shows one record: :meth:`show_record` (None clears the pane)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("moleculeDetails")
        self.title = QLabel(self)
        self.title.setObjectName("detailsTitle")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.picture = PictureLabel(self)
        self.picture.setObjectName("detailsPicture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(MIN_PICTURE[0], MIN_PICTURE[1])
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.picture.setStyleSheet("background: white; border: 1px solid #ccc;")
        self.picture.setWordWrap(True)
        self.fields = QTableWidget(0, 2, self)
        self.fields.setObjectName("detailsFields")
        self.fields.setHorizontalHeaderLabels(["field", "value"])
        self.fields.verticalHeader().setVisible(False)
        self.fields.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.fields.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.fields.horizontalHeader().setStretchLastSection(True)
        self.fields.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.picture)
        layout.addWidget(self.fields, 1)
        self.record: api.MoleculeRecord | None = None
        self.show_record(None)

    def show_record(self, record: api.MoleculeRecord | None) -> None:
        self.record = record
        self.fields.setRowCount(0)
        self.picture.set_picture(None)
        self.picture.clear()
        if record is None:
            self.title.setText("No molecule selected")
            self.picture.setText("Select a row to see the molecule")
            return
        self.title.setText(record.name or f"record {record.index}")
        self._show_picture(record)
        rows = record_fields(record)
        self.fields.setRowCount(len(rows))
        for row, (key, value) in enumerate(rows):
            self.fields.setItem(row, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            if key == "status" and not record.ok:
                item.setForeground(QBrush(ERROR_COLOR))
            self.fields.setItem(row, 1, item)
        self.fields.resizeRowsToContents()

    def _show_picture(self, record: api.MoleculeRecord) -> None:
        if record.mol is None:
            reason = "no molecular graph" if record.ok else "could not be read:\n" + (record.error or "")
            self.picture.setText(reason)
            return
        try:
            png = api.depict_png(record.mol, DEPICTION_SIZE)
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            log.debug("no depiction for record %s", record.index, exc_info=True)
            self.picture.setText(f"cannot draw this molecule: {exc}")
            return
        pixmap = QPixmap()
        pixmap.loadFromData(png, "PNG")
        self.picture.set_picture(pixmap)
