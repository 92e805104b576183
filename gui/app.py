"""Entry point of the desktop app (``chemaccel-gui``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

import chemaccel
from chemaccel_gui.main_window import APP_NAME, MainWindow


def main(argv: Sequence[str] | None = None) -> int:
    """Create the application (or reuse a running one), show the main window, run the event loop.

    Args:
        argv: command line for Qt (default ``sys.argv``), e.g. ``["chemaccel-gui", "-platform", "xcb"]``.

    Returns:
        The event loop's exit status.
    """
    args = list(sys.argv if argv is None else argv) or [APP_NAME]
    app = QApplication.instance() or QApplication(args)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(chemaccel.__version__)
    window = MainWindow()
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
