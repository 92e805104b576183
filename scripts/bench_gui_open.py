"""How soon the desktop app shows a big molecule file, and whether it stays responsive while reading it.

Opens a SMILES file of N molecules (default 100,000: QM9 SMILES from resources/examples/qm9_gap_2k.csv,
repeated with distinct names) in the main window, offscreen, and measures the seconds until the first
rows are in the table, until the load ends, and the longest the GUI thread went without handling a
10 ms timer until the load ended (its worst stall). The baseline in the same run is the app before streaming: the same load,
the table filled once at the end (``on_batch`` off).

    QT_QPA_PLATFORM=offscreen python scripts/bench_gui_open.py [--n 100000]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]


def write_file(path: Path, n: int) -> None:
    with open(ROOT / "resources" / "examples" / "qm9_gap_2k.csv", encoding="utf-8") as fh:
        smiles = [row[0] for row in list(csv.reader(fh))[1:]]
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(f"{smiles[i % len(smiles)]} m{i}\n")


def measure(window, app, path: Path, streaming: bool) -> dict[str, float]:
    from PySide6.QtCore import QTimer

    import chemaccel_gui.main_window as main_window
    from chemaccel_gui import molecule_loading

    real = molecule_loading.load_molecules

    def plain(p, reporter, on_batch=None):  # the app before streaming: no batches
        return real(p, reporter)

    main_window.load_molecules = real if streaming else plain
    model = window.molecule_model
    model.clear()
    first: list[float] = []
    model.rowsInserted.connect(lambda *_: first or first.append(time.perf_counter()))
    model.modelReset.connect(lambda: model.rowCount() and (first or first.append(time.perf_counter())))
    ticks = [time.perf_counter()]
    stall = [0.0]

    def tick() -> None:
        now = time.perf_counter()
        stall[0] = max(stall[0], now - ticks[-1])
        ticks.append(now)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    start = time.perf_counter()
    job = window.open_file(path)
    while not job.ended:
        app.processEvents()
        time.sleep(0.002)
    app.processEvents()
    end = time.perf_counter()
    tick()  # the table filled at the end counts
    timer.stop()
    model.rowsInserted.disconnect()
    model.modelReset.disconnect()
    main_window.load_molecules = real
    return {"rows": model.rowCount(), "first_rows_s": (first[0] if first else end) - start, "total_s": end - start,
            "worst_stall_s": stall[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="molecules in the file (default 100,000)")
    args = parser.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from chemaccel_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.smi"
        write_file(path, args.n)
        from PySide6.QtCore import QSettings

        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)  # not the user's
        window = MainWindow(settings=settings, devices=[("cpu", "CPU")])
        window.show()
        print(f"{args.n} SMILES, {path.stat().st_size / 1e6:.1f} MB; offscreen; CPU {os.cpu_count()} cores")
        for name, streaming in (("before: table filled at the end", False), ("streaming batches", True)):
            r = measure(window, app, path, streaming)
            print(f"{name:34s} rows {r['rows']:>7}  first rows {r['first_rows_s']:6.2f} s  "
                  f"done {r['total_s']:6.2f} s  worst GUI stall {r['worst_stall_s'] * 1000:6.0f} ms")
        window.jobs.shutdown()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
