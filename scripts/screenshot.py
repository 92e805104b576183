"""Screenshots of the desktop app for the README, taken offscreen (no display needed).

Scenarios (each saves the whole window):

* molecules.png: open resources/examples/molecules.sdf through the window's own load job, wait for
  it, select a row (the details pane shows its large depiction and properties);
* molecules_errors.png: open resources/examples/with_errors.sdf and select a bad record (listed in
  red with its reason, not dropped);
* property.png: type SMILES into the Molecules tab and predict the HOMO-LUMO gap with the SMILES-ready
  model; the Property tab shows the new columns (value, uncertainty and 90 % interval in eV, the domain
  verdict in colour with its reason, status, geometry) and the values over the training distribution;
* reaction.png: top-3 products of a few reactions (and one bad SMILES) with the shipped USPTO model;
* prune_running.png: a LeNet-5 AutoPrune job on an MNIST subset, taken WHILE it runs (live loss and
  kept-fraction curves, per-epoch compression vs. accuracy), then cancelled (needs ../shared/data);
* prune.png: a short job run to the end (final point and per-layer sparsity bars);
* gan.png: a toy GAN (4 generators on the 8-Gaussian ring) trained to the end: loss curves and the
  generated samples coloured by generator;
* nas.png: a tiny DARTS + distillation search on a Fashion-MNIST subset run to the end: the teacher's and
  the search's loss curves, accuracy per epoch, and the derived genotype's two cells drawn with their
  operations and skip connections per cell (needs ../shared/data).

The app runs with throw-away settings and work folders, so a developer's recent files, window state
and job folders are neither used nor changed. Every job goes through the panels' own Start buttons.

Usage:
    QT_QPA_PLATFORM=offscreen python scripts/screenshot.py [--out docs/screenshots] [--row 2] \
        [--only molecules property reaction prune gan nas]
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
    window.tabs.setCurrentWidget(window.molecules)
    window.molecules.select_row(row)
    return save(app, window, path)


def save(app: QApplication, window, path: Path) -> Path:
    settle(app)
    if not window.grab().save(str(path), "PNG"):
        raise SystemExit(f"{path}: cannot write")
    return path


def run_job(app: QApplication, job, what: str, timeout: float = 300.0) -> None:
    if job is None:
        raise SystemExit(f"{what}: the job did not start")
    wait_for(app, lambda: job.ended, timeout)
    if job.error:
        raise SystemExit(f"{what} failed: {job.error}")


def property_scenario(app: QApplication, window, path: Path) -> Path:
    """Type SMILES into the Molecules tab, predict them with the SMILES-ready gap model, show the Property tab
    (values with uncertainty and 90 % interval, the domain verdict coloured, the histogram)."""
    window.molecules.smiles_box.setPlainText(
        "CCO ethanol\nc1ccncc1 pyridine\nO=C1CCCC1 cyclopentanone\nOCC1OC(O)C(O)C1O ribose\n"
        "CC(=O)Nc1ccc(O)cc1 paracetamol\nCC(C)NCC(O)COc1cccc2ccccc12 propranolol\nClc1ccccc1 chlorobenzene")
    window.molecules.use_typed_smiles()
    panel = window.property_panel
    panel.picker.select("qm9-gap-schnet-ff")
    window.tabs.setCurrentWidget(panel)
    run_job(app, panel.predict(), "property prediction")
    panel.view.selectRow(0)
    return save(app, window, path)


def reaction_scenario(app: QApplication, window, path: Path) -> Path:
    panel = window.reaction_panel
    window.tabs.setCurrentWidget(panel)
    panel.input.setPlainText("CC(=O)O.OCC\nC1CC\nCC(=O)Cl.Nc1ccccc1")
    panel.k_spin.setValue(3)
    run_job(app, panel.predict(), "reaction prediction")
    return save(app, window, path)


def prune_scenario(app: QApplication, window, running_path: Path, done_path: Path) -> list[Path]:
    """A job shot while it runs (then cancelled), and a short one run to the end."""
    panel = window.prune_panel
    if not panel.datasets:
        print("no MNIST in ../shared/data: skipping the prune screenshots", file=sys.stderr)
        return []
    window.tabs.setCurrentWidget(panel)
    panel.picker.select("lenet5")
    panel.limit_spin.setValue(3000)
    panel.pretrain_spin.setValue(1)
    for name, value in {"budget": 0.05, "epochs": 30, "finetune_epochs": 2, "batch_size": 64}.items():
        panel.form.set_value(name, value)
    job = panel.start()
    if job is None:
        raise SystemExit(f"prune job did not start: {panel.form.error()}")
    wait_for(app, lambda: len(panel.plots.tradeoff.series.get("epochs", ([], []))[0]) >= 6 or job.ended, 240)
    if job.ended:
        raise SystemExit(f"the prune job ended before the screenshot: {job.error or panel.status.text()}")
    written = [save(app, window, running_path)]
    panel.cancel()
    run_job(app, job, "cancelling the prune job", 30)
    for name, value in {"epochs": 10, "finetune_epochs": 2}.items():
        panel.form.set_value(name, value)
    run_job(app, panel.start(), "prune job")
    written.append(save(app, window, done_path))
    return written


def gan_scenario(app: QApplication, window, path: Path) -> Path:
    panel = window.gan_panel
    window.tabs.setCurrentWidget(panel)
    for name, value in {"data": "ring8", "n_generators": 4, "steps": 1500, "log_every": 25}.items():
        panel.form.set_value(name, value)
    run_job(app, panel.train(), "GAN training")
    return save(app, window, path)


def nas_scenario(app: QApplication, window, path: Path) -> Path | None:
    """A small search (3 cells of 4 nodes, 4 channels) on 1,200 Fashion-MNIST images, distilled from a
    1-epoch teacher, run to the end through the panel's Start button."""
    panel = window.nas_panel
    if not panel.datasets:
        print("no Fashion-MNIST in ../shared/data: skipping the NAS screenshot", file=sys.stderr)
        return None
    window.tabs.setCurrentWidget(panel)
    panel.data_combo.setCurrentIndex(panel.data_combo.findText("Fashion-MNIST"))
    panel.limit_spin.setValue(1200)
    panel.distill_check.setChecked(True)
    settings = {"layers": 3, "init_channels": 4, "nodes": 4, "epochs": 4, "batch_size": 32, "arch_lr": 3e-3,
                "teacher_width": 8, "teacher_epochs": 1}
    for name, value in settings.items():
        panel.form.set_value(name, value)
    job = panel.start()
    if job is None:
        raise SystemExit(f"NAS search did not start: {panel.form.error()}")
    run_job(app, job, "NAS search", 900)
    return save(app, window, path)


SCENARIOS = ("molecules", "property", "reaction", "prune", "gan", "nas")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--row", type=int, default=2, help="the row selected in the molecule table")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS),
                        help="scenarios to run (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication([sys.argv[0]])
    from chemaccel_gui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "screenshot.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, devices=[("cpu", "cpu")])
        window.prune_panel.work_root = Path(tmp) / "prune-jobs"
        window.gan_panel.work_root = Path(tmp) / "gan-jobs"
        window.nas_panel.work_root = Path(tmp) / "nas-jobs"
        window.resize(*SIZE)
        window.show()
        settle(app)
        out = args.out
        written: list[Path] = []
        if "molecules" in args.only:
            written += [
                molecules_scenario(app, window, EXAMPLES / "molecules.sdf", args.row, out / "molecules.png"),
                molecules_scenario(app, window, EXAMPLES / "with_errors.sdf", 2,
                                   out / "molecules_errors.png"),
            ]
        if "property" in args.only:
            written.append(property_scenario(app, window, out / "property.png"))
        if "reaction" in args.only:
            written.append(reaction_scenario(app, window, out / "reaction.png"))
        if "prune" in args.only:
            written += prune_scenario(app, window, out / "prune_running.png", out / "prune.png")
        if "gan" in args.only:
            written.append(gan_scenario(app, window, out / "gan.png"))
        if "nas" in args.only:
            shot = nas_scenario(app, window, out / "nas.png")
            written += [shot] if shot is not None else []
        window.close()
    for path in written:
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
