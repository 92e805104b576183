"""Screenshots of the desktop app for the README, taken offscreen (no display needed).

Scenarios (each saves the whole window):

* molecules.png: open resources/examples/molecules.sdf through the window's own load job, wait for
  it, select a row (the details pane shows its large depiction and properties);
* molecules_errors.png: open resources/examples/with_errors.sdf and select a bad record (listed in
  red with its reason, not dropped).
 The app runs with throw-away settings, so a developer's recent
files and window state are neither used nor changed.

Usage:
    QT_QPA_PLATFORM=offscreen python scripts/screenshot.py [--out docs/screenshots] [--row 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "resources" / "examples"
SIZE = (1280, 800)


def wait_for(app: QApplication, done, timeout: float = 60.0) -> None:
    """Process events until ``done()`` is true."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not finish in time")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float = 0.3) -> None:
    """Let layouts, lazy depictions and repaints happen."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def molecules_scenario(app: QApplication, window, example: Path, row: int, path: Path) -> Path:
    """Open ``example``, select ``row``, save the window to ``path``."""
    job = window.open_file(example)
    if job is None:
        raise SystemExit(f"{example}: not found")
    wait_for(app, lambda: job.ended)
    if job.error:
        raise SystemExit(f"loading {example} failed: {job.error}")
    window.molecules.select_row(row)
    settle(app)
    if not window.grab().save(str(path), "PNG"):
        raise SystemExit(f"{path}: cannot write")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--row", type=int, default=2, help="the row selected in the molecule table")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication([sys.argv[0]])
    from chemaccel_gui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "screenshot.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, devices=[("cpu", "cpu")])
        window.resize(*SIZE)
        window.show()
        settle(app)
        out = args.out
        written = [
            molecules_scenario(app, window, EXAMPLES / "molecules.sdf", args.row, out / "molecules.png"),
            molecules_scenario(app, window, EXAMPLES / "with_errors.sdf", 2, out / "molecules_errors.png"),
        ]
        window.close()
    for path in written:
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
