"""chemaccel desktop app (PySide6 + pyqtgraph): a thin client of chemaccel.api."""
