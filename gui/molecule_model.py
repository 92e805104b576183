"""The molecule table's model: records in, rows out, fast for 100k rows.

One row per record, good or bad, in file order until the user sorts. Columns: ``#`` (the record
number in the file), ``depiction`` (a thumbnail drawn by :func:`chemaccel.api.depict_png` only when
the view asks for it, i.e. for visible rows, and kept in an LRU cache), ``name``, ``SMILES``,
``status`` ("ok" or the reason, in red) and one column per property. Sorting and the "errors only"
filter reorder a list of row numbers; the records are never copied.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QPixmap

from chemaccel import api

log = logging.getLogger("chemaccel_gui")

FIXED_COLUMNS = ("#", "depiction", "name", "SMILES", "status")
COL_INDEX, COL_DEPICTION, COL_NAME, COL_SMILES, COL_STATUS = range(len(FIXED_COLUMNS))
THUMBNAIL = QSize(120, 80)
CACHE_SIZE = 2000
FILTERS = ("all", "ok", "errors")

#: ``index.data(RECORD_ROLE)`` is the row's :class:`~chemaccel.api.MoleculeRecord`.
RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_COLOR = QColor(190, 20, 20)
ERROR_BACKGROUND = QColor(255, 235, 235)
#: Background of a prediction's applicability-domain cell: inside (green) or outside (orange).
DOMAIN_COLORS = {"in": QColor(222, 244, 222), "outside": QColor(255, 222, 170)}

Index = QModelIndex | QPersistentModelIndex


def format_value(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return str(value)


class MoleculeTableModel(QAbstractTableModel):
    """Rows of :class:`~chemaccel.api.MoleculeRecord` for a ``QTableView``.

    Args:
        render: ``render(mol, (width, height)) -> PNG bytes`` (default :func:`chemaccel.api.depict_png`);
            tests count calls through it.
    """

    def __init__(self, render: Callable[[Any, tuple[int, int]], bytes] | None = None, parent=None) -> None:
        super().__init__(parent)
        self.records: list[api.MoleculeRecord] = []
        self.prop_names: list[str] = []
        self._rows: list[int] = []  # view row -> record position
        self._filter = "all"
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._render = render or api.depict_png
        self._pixmaps: OrderedDict[int, QPixmap | None] = OrderedDict()

    # ------------------------------------------------------------------------------------------- data

    def set_records(self, records: Sequence[api.MoleculeRecord], prop_names: Sequence[str] = ()) -> None:
        """Show ``records`` (file order); ``prop_names`` become the extra columns."""
        self.beginResetModel()
        self.records = list(records)
        self.prop_names = list(prop_names)
        self._pixmaps.clear()
        self._sort = None
        self._rows = self._filtered()
        self.endResetModel()

    def append_records(self, records: Sequence[api.MoleculeRecord], prop_names: Sequence[str] = ()) -> None:
        """Add ``records`` after those shown (a file still being read); new ``prop_names`` become new
        columns. The filter applies to them; under a sort they take their sorted places."""
        added = [name for name in prop_names if name not in self.prop_names]
        if added:
            start = self.columnCount()
            self.beginInsertColumns(QModelIndex(), start, start + len(added) - 1)
            self.prop_names.extend(added)
            self.endInsertColumns()
        first = len(self.records)
        self.records.extend(records)
        shown = [p for p in range(first, len(self.records)) if self._passes(self.records[p])]
        if not shown:
            return
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row + len(shown) - 1)
        self._rows.extend(shown)
        self.endInsertRows()
        if self._sort is not None:
            self._reorder(self._sorted(self._rows))

    def clear(self) -> None:
        self.set_records([], [])

    def replace_records(self, records: Sequence[api.MoleculeRecord], prop_names: Sequence[str]) -> None:
        """Swap in updated records (same number, same order: e.g. with predicted properties added) and
        their property columns, keeping the filter and the sort order."""
        if len(records) != len(self.records):
            raise ValueError(f"replace_records needs {len(self.records)} records, got {len(records)}")
        self.beginResetModel()
        self.records = list(records)
        self.prop_names = list(prop_names)
        self._rows = self._sorted(self._filtered())
        self.endResetModel()

    def record_at(self, row: int) -> api.MoleculeRecord | None:
        """The record shown in view row ``row`` (None when out of range)."""
        return self.records[self._rows[row]] if 0 <= row < len(self._rows) else None

    def n_bad(self) -> int:
        return sum(1 for record in self.records if not record.ok)

    def columns(self) -> list[str]:
        return [*FIXED_COLUMNS, *self.prop_names]

    # ------------------------------------------------------------------------------- Qt model methods

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's names
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(FIXED_COLUMNS) + len(self.prop_names)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < self.columnCount():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns()[section]
        if role == Qt.ItemDataRole.ToolTipRole and section == COL_INDEX:
            return "record number in the file"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        position = self._rows[index.row()]
        record = self.records[position]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return None if column == COL_DEPICTION else self._text(record, column)
        if role == Qt.ItemDataRole.DecorationRole and column == COL_DEPICTION:
            return self.thumbnail(position)
        if role == Qt.ItemDataRole.ForegroundRole and not record.ok:
            return QBrush(ERROR_COLOR)
        if role == Qt.ItemDataRole.BackgroundRole and not record.ok:
            return QBrush(ERROR_BACKGROUND)
        if role == Qt.ItemDataRole.BackgroundRole and column >= len(FIXED_COLUMNS):
            verdict = self._value(record, column)
            if verdict in DOMAIN_COLORS and self.columns()[column].startswith("domain ("):
                return QBrush(DOMAIN_COLORS[verdict])
        if role == Qt.ItemDataRole.ForegroundRole and column >= len(FIXED_COLUMNS):
            value = self._value(record, column)
            if isinstance(value, str) and value.startswith("error"):  # e.g. a prediction's status
                return QBrush(ERROR_COLOR)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COL_STATUS and not record.ok:
                return record.error_line()
            if column in (COL_NAME, COL_SMILES) or column >= len(FIXED_COLUMNS):
                return self._text(record, column) or None
        numeric_column = column == COL_INDEX or column >= len(FIXED_COLUMNS)
        if role == Qt.ItemDataRole.TextAlignmentRole and numeric_column:
            value = self._value(record, column)
            if isinstance(value, (int, float)):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.SizeHintRole and column == COL_DEPICTION:
            return THUMBNAIL
        if role == RECORD_ROLE:
            return record
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows by a column; empty cells go last. Selections follow their records."""
        if not 0 <= column < self.columnCount() or column == COL_DEPICTION:
            return
        self._sort = (column, order)
        self._reorder(self._sorted(self._rows))

    def set_filter(self, mode: str) -> None:
        """Show ``"all"`` rows, only the ``"ok"`` ones, or only the ``"errors"``."""
        if mode not in FILTERS:
            raise ValueError(f"unknown filter {mode!r}; known: {', '.join(FILTERS)}")
        self.beginResetModel()
        self._filter = mode
        self._rows = self._sorted(self._filtered())
        self.endResetModel()

    # ------------------------------------------------------------------------------------ depictions

    def thumbnail(self, position: int) -> QPixmap | None:
        """The depiction of record ``position`` (drawn on first use, then cached; None: no molecule)."""
        if position in self._pixmaps:
            self._pixmaps.move_to_end(position)
            return self._pixmaps[position]
        pixmap = None
        mol = self.records[position].mol
        if mol is not None:
            try:
                pixmap = QPixmap()
                pixmap.loadFromData(self._render(mol, (THUMBNAIL.width(), THUMBNAIL.height())), "PNG")
            except Exception:  # noqa: BLE001 - one odd molecule must not break the table
                log.debug("no depiction for record %s", self.records[position].index, exc_info=True)
                pixmap = None
        self._pixmaps[position] = pixmap
        if len(self._pixmaps) > CACHE_SIZE:
            self._pixmaps.popitem(last=False)
        return pixmap

    def cached_thumbnails(self) -> int:
        return len(self._pixmaps)

    # --------------------------------------------------------------------------------------- helpers

    def _value(self, record: api.MoleculeRecord, column: int) -> Any:
        if column == COL_INDEX:
            return record.index
        if column == COL_NAME:
            return record.name
        if column == COL_SMILES:
            return record.smiles
        if column == COL_STATUS:
            return "ok" if record.ok else (record.error or "no molecule")
        if column >= len(FIXED_COLUMNS):
            return record.props.get(self.prop_names[column - len(FIXED_COLUMNS)])
        return None

    def _text(self, record: api.MoleculeRecord, column: int) -> str:
        value = self._value(record, column)
        return "" if value is None else format_value(value)

    def _passes(self, record: api.MoleculeRecord) -> bool:
        return self._filter == "all" or record.ok == (self._filter == "ok")

    def _filtered(self) -> list[int]:
        if self._filter == "all":
            return list(range(len(self.records)))
        return [i for i, r in enumerate(self.records) if self._passes(r)]

    def _sorted(self, rows: list[int]) -> list[int]:
        if self._sort is None:
            return rows
        column, order = self._sort
        keyed, empty = [], []
        for position in rows:
            value = self._value(self.records[position], column)
            if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
                empty.append(position)
            elif isinstance(value, (int, float)):
                keyed.append(((0, float(value), ""), position))
            else:
                keyed.append(((1, 0.0, str(value).lower()), position))
        keyed.sort(key=lambda item: item[0], reverse=order == Qt.SortOrder.DescendingOrder)
        return [position for _, position in keyed] + empty

    def _reorder(self, rows: list[int]) -> None:
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        positions = [self._rows[i.row()] if 0 <= i.row() < len(self._rows) else None for i in old]
        self._rows = rows
        where = {position: row for row, position in enumerate(rows)}
        new = [
            self.index(where[p], i.column()) if p is not None and p in where else QModelIndex()
            for p, i in zip(positions, old)
        ]
        self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()
