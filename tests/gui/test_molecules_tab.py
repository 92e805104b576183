"""The Molecules tab: example files load in a worker, bad records are listed, bad files give a message
box, depictions are drawn lazily, rows sort and filter, and the molecules export as CSV and SDF."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap  # noqa: E402

from chemaccel import api  # noqa: E402
from chemaccel_gui.molecule_loading import load_molecules  # noqa: E402
from chemaccel_gui.molecule_model import (  # noqa: E402
    COL_DEPICTION,
    COL_INDEX,
    COL_NAME,
    COL_SMILES,
    COL_STATUS,
    ERROR_COLOR,
    RECORD_ROLE,
    MoleculeTableModel,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
DISPLAY = Qt.ItemDataRole.DisplayRole


def cell(model, row: int, column: int, role=DISPLAY):
    return model.data(model.index(row, column), role)


def shown_fields(details) -> dict[str, str]:
    table = details.fields
    return {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}


def column_of(model, name: str) -> int:
    return model.columns().index(name)


def test_with_errors_sdf_lists_bad_records_with_their_reasons(window, open_and_wait, messages):
    job = open_and_wait(EXAMPLES / "with_errors.sdf")
    model = window.molecule_model
    assert messages == [] and job.error is None
    assert model.rowCount() == 6 and model.n_bad() == 2
    assert model.columns() == ["#", "depiction", "name", "SMILES", "status", "activity"]
    status = [cell(model, row, COL_STATUS) for row in range(6)]
    assert status[0] == "ok" and status[2].startswith("cannot parse molfile block")
    assert status[4].startswith("cannot sanitize molecule: Explicit valence")
    bad = model.index(2, COL_STATUS)
    assert model.data(bad, Qt.ItemDataRole.ForegroundRole).color() == ERROR_COLOR
    assert "record 3" in model.data(bad, Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(0, COL_STATUS), Qt.ItemDataRole.ForegroundRole) is None
    # the good rows are there with their properties
    assert [cell(model, 0, c) for c in (COL_INDEX, COL_NAME, COL_SMILES)] == ["1", "ethanol", "CCO"]
    assert cell(model, 0, column_of(model, "activity")) == "1.5"
    assert cell(model, 3, COL_NAME) == "acetic_acid"
    assert "2 could not be read" in window.molecules.summary.text()
    assert window.export_csv_action.isEnabled()


@pytest.mark.parametrize(
    ("name", "rows", "bad", "prop"),
    [
        ("molecules.smi", 20, 0, None),
        ("molecules.csv", 20, 0, "mol_weight"),
        ("molecules.sdf", 10, 0, None),
        ("molecules.xyz", None, 0, "energy"),
        ("with_errors.smi", None, 4, None),
        ("with_errors.xyz", None, 2, None),
    ],
)
def test_example_files_load(window, open_and_wait, messages, name, rows, bad, prop):
    open_and_wait(EXAMPLES / name)
    model = window.molecule_model
    assert messages == []
    assert model.rowCount() > 0 and (rows is None or model.rowCount() == rows)
    assert model.n_bad() == bad
    if prop is not None:
        assert prop in model.prop_names and cell(model, 0, column_of(model, prop)) != ""


def test_hdf5_store_loads(window, open_and_wait, tmp_path, messages):
    from chemaccel.chem.store_records import write_store

    good = [r for r in api.read_molecules(EXAMPLES / "molecules.sdf") if r.ok]
    write_store(good, tmp_path / "mols.h5")
    open_and_wait(tmp_path / "mols.h5")
    model = window.molecule_model
    assert messages == [] and model.rowCount() == len(good) and model.n_bad() == 0
    assert cell(model, 0, COL_SMILES) == good[0].smiles


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _binary(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _foreign_h5(path: Path) -> Path:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as handle:
        handle["data"] = np.arange(10)
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: EXAMPLES / "empty.smi", "empty file"),
        (lambda tmp: EXAMPLES / "no_smiles_column.csv", "no SMILES column"),
        (lambda tmp: _binary(tmp / "junk.sdf"), "binary file"),
        (lambda tmp: _text(tmp / "mols.docx", "CCO\n"), "unknown file type '.docx'"),
        (lambda tmp: _foreign_h5(tmp / "other.h5"), "not a chemaccel molecule store"),
    ],
)
def test_a_bad_file_gives_a_message_box_with_the_reason(
    window, open_and_wait, messages, tmp_path, make, reason
):
    path = make(tmp_path)
    job = open_and_wait(path)
    [(kind, title, text)] = messages
    assert kind == "warning" and title == "Open molecules"
    assert reason in text and str(path) in text and "\n" not in text
    assert job.error == text and not job.unexpected
    assert window.molecule_model.rowCount() == 0 and window.recent_files() == []


def test_the_details_pane_follows_the_selection(window, open_and_wait):
    open_and_wait(EXAMPLES / "with_errors.sdf")
    details = window.molecules.details
    assert details.record is window.molecule_model.record_at(0)  # the first row is selected on load
    window.molecules.select_row(1)
    fields = shown_fields(details)
    assert fields["name"] == "benzene" and fields["3D coordinates"].startswith("yes")
    assert fields["activity"] == "0.25" and fields["status"] == "ok"
    assert details.picture.picture().size().toTuple() == (360, 270)  # drawn large...
    shown = details.picture.pixmap()
    assert not shown.isNull() and shown.width() <= details.picture.width()  # ...and scaled to fit
    window.molecules.select_row(2)
    fields = shown_fields(details)
    assert fields["status"].startswith("cannot parse molfile block") and fields["3D coordinates"] == "no"
    assert "could not be read" in details.picture.text()


def test_smiles_records_have_no_3d(window, open_and_wait):
    open_and_wait(EXAMPLES / "molecules.smi")
    window.molecules.select_row(0)
    details = window.molecules.details
    fields = shown_fields(details)
    assert fields["3D coordinates"] == "no"


def test_depictions_are_drawn_lazily_and_cached(qtbot):
    mol = api.read_all(EXAMPLES / "molecules.smi")[0][0].mol
    records = [api.MoleculeRecord(source="big.smi", index=i + 1, mol=mol) for i in range(20_000)]
    calls: list[int] = []

    def render(m, size):
        calls.append(1)
        return api.depict_png(m, size)

    from PySide6.QtWidgets import QTableView

    model = MoleculeTableModel(render=render)
    model.set_records(records)
    view = QTableView()
    qtbot.addWidget(view)
    view.verticalHeader().setDefaultSectionSize(86)
    view.setModel(model)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)
    assert 0 < len(calls) <= 10  # only the visible rows, not 20 000
    pixmap = cell(model, 0, COL_DEPICTION, Qt.ItemDataRole.DecorationRole)
    assert isinstance(pixmap, QPixmap) and pixmap.width() == 120
    before = len(calls)
    cell(model, 0, COL_DEPICTION, Qt.ItemDataRole.DecorationRole)
    assert len(calls) == before  # cached
    assert cell(model, 0, COL_DEPICTION) is None  # no text in the picture column


def test_a_record_without_a_molecule_has_no_depiction():
    model = MoleculeTableModel()
    model.set_records([api.MoleculeRecord.failed("x.smi", 1, "cannot parse SMILES 'C1': unclosed ring")])
    assert cell(model, 0, COL_DEPICTION, Qt.ItemDataRole.DecorationRole) is None
    assert cell(model, 0, COL_STATUS).startswith("cannot parse SMILES")
    assert cell(model, 0, COL_STATUS, RECORD_ROLE).error.endswith("unclosed ring")


def test_sort_and_filter(window, open_and_wait):
    open_and_wait(EXAMPLES / "molecules.csv")
    model, view = window.molecule_model, window.molecule_table
    weight = column_of(model, "mol_weight")
    window.molecules.select_row(0)
    selected = window.molecules.selected_record()
    view.sortByColumn(weight, Qt.SortOrder.DescendingOrder)
    weights = [float(cell(model, row, weight)) for row in range(model.rowCount())]
    assert weights == sorted(weights, reverse=True)
    assert window.molecules.selected_record() is selected  # the selection follows its record
    view.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)
    names = [cell(model, row, COL_NAME) for row in range(model.rowCount())]
    assert names == sorted(names, key=str.lower)

    open_and_wait(EXAMPLES / "with_errors.smi")
    combo = window.molecules.filter_combo
    combo.setCurrentIndex(combo.findData("errors"))
    assert model.rowCount() == model.n_bad() == 4
    assert all(cell(model, row, COL_STATUS) != "ok" for row in range(4))
    combo.setCurrentIndex(combo.findData("ok"))
    assert model.rowCount() == len(model.records) - 4
    with pytest.raises(ValueError):
        model.set_filter("some")


def test_export_csv_round_trip(window, open_and_wait, wait_job, tmp_path, messages):
    open_and_wait(EXAMPLES / "with_errors.sdf")
    out = tmp_path / "out" / "mols.csv"
    wait_job(window.export_molecules("csv", out))
    assert messages == [] and "Wrote 6 rows" in window.statusBar().currentMessage()
    header = out.read_text().splitlines()[0]
    assert header == "index,name,smiles,status,activity"
    back = list(api.read_molecules(out))
    assert len(back) == 6
    assert [r.name for r in back if r.ok] == ["ethanol", "benzene", "acetic_acid", "acetonitrile"]
    assert [r.smiles for r in back if r.ok] == ["CCO", "c1ccccc1", "CC(=O)O", "CC#N"]
    assert back[0].props["activity"] == 1.5
    assert back[2].props["status"].startswith("cannot parse molfile block")


def test_export_sdf_keeps_the_molecules(window, open_and_wait, wait_job, tmp_path, messages):
    open_and_wait(EXAMPLES / "with_errors.sdf")
    out = tmp_path / "mols.sdf"
    wait_job(window.export_molecules("sdf", out))
    good, bad = api.read_all(out)
    assert messages == [] and bad == [] and [r.name for r in good][:2] == ["ethanol", "benzene"]
    assert len(good) == 4 and good[1].props["activity"] == 0.25 and good[1].has_3d


def test_export_without_molecules_says_so(window, messages):
    assert window.export_molecules("csv", "nowhere.csv") is None
    assert messages and messages[0][0] == "information"


def test_a_cancelled_load_keeps_what_was_read(qtbot, tmp_path):
    path = tmp_path / "many.smi"
    path.write_text("".join(f"{'C' * (1 + i % 8)}O m{i}\n" for i in range(500)))

    class StopAfter:
        def __init__(self, n):
            self.n, self.calls = n, 0

        def on_start(self, task, total=None):
            pass

        def on_progress(self, step, total=None, metrics=None):
            pass

        def on_message(self, text):
            pass

        def should_stop(self):
            self.calls += 1
            return self.calls > self.n

    loaded = load_molecules(path, StopAfter(50))
    assert loaded.cancelled and len(loaded.records) == 50


def test_cancel_a_load_from_the_window(window, wait_job, tmp_path, monkeypatch):
    import chemaccel_gui.molecule_loading as loading

    path = tmp_path / "slow.smi"
    path.write_text("CCO\n" * 300)
    real = loading.api.read_molecules

    def slow(p):
        import time

        for record in real(p):
            time.sleep(0.01)
            yield record

    monkeypatch.setattr(loading.api, "read_molecules", slow)
    job = window.open_file(path)
    window.job_progress.cancel_button.click()
    wait_job(job)
    model = window.molecule_model
    assert job.cancelled and model.rowCount() < 300
    assert "cancelled" in window.molecules.summary.text()


def test_drop_a_file_opens_it(window, wait_job, qtbot):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(EXAMPLES / "molecules.sdf"))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    wait_job(window.load_job)
    assert window.molecule_model.rowCount() == 10
    text_only = QMimeData()
    text_only.setText("CCO")
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, text_only, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert not enter.isAccepted()


def test_closing_the_window_stops_a_running_load(qtbot, settings, messages, tmp_path, monkeypatch):
    import time

    import chemaccel_gui.molecule_loading as loading
    from chemaccel_gui.main_window import MainWindow

    def endless(_path):
        index = 0
        while True:
            index += 1
            time.sleep(0.01)
            yield api.MoleculeRecord.failed("endless.smi", index, "never ends")

    monkeypatch.setattr(loading.api, "read_molecules", endless)
    win = MainWindow(settings=settings, devices=[("cpu", "cpu")])
    qtbot.addWidget(win)
    win.show()
    path = tmp_path / "endless.smi"
    path.write_text("CCO\n")
    job = win.open_file(path)
    qtbot.waitUntil(lambda: job.is_running(), timeout=5000)
    started = time.monotonic()
    win.close()
    assert not job.is_running() and job.cancelled and time.monotonic() - started < 3
    qtbot.waitUntil(lambda: job.ended, timeout=5000)
    assert messages == []


def test_typed_smiles_fill_the_table(window, messages):
    tab = window.molecules
    tab.smiles_box.setPlainText("CCO ethanol\nC1CC broken\n\nc1ccccc1;CC(=O)O\n")
    assert tab.use_typed_smiles() == 4
    model = window.molecule_model
    assert model.rowCount() == 4 and model.n_bad() == 1
    assert [cell(model, r, COL_SMILES) for r in range(4)] == ["CCO", "", "c1ccccc1", "CC(=O)O"]
    assert cell(model, 0, COL_NAME) == "ethanol"
    assert cell(model, 1, COL_STATUS) == "cannot parse SMILES 'C1CC': unclosed ring"
    assert "typed SMILES: 4 records" in tab.summary.text() and "1 could not be read" in tab.summary.text()
    tab.smiles_box.setPlainText("   \n")
    assert tab.use_typed_smiles() == 0 and "at least one SMILES" in tab.summary.text()
    assert model.rowCount() == 4  # the table is kept
    assert messages == []


def test_load_hands_over_every_record_once_in_batches(tmp_path):
    path = tmp_path / "many.smi"
    path.write_text("".join(f"{'C' * (1 + i % 8)}O m{i}\n" for i in range(1000)) + "C1CC bad\n")
    batches = []
    loaded = load_molecules(path, api.NullReporter(), on_batch=lambda recs, names: batches.append(list(recs)))
    assert len(batches[0]) == 200  # the first rows at once
    assert [r.index for batch in batches for r in batch] == [r.index for r in loaded.records]
    assert len(loaded.records) == 1001 and loaded.n_bad == 1


def test_a_big_file_fills_the_table_while_it_is_read(window, wait_job, tmp_path, monkeypatch):
    """The first rows show as soon as the first batch is read, the table grows while the job runs, and
    the end of the load keeps the selection instead of rebuilding the table."""
    import chemaccel_gui.molecule_loading as loading

    monkeypatch.setattr(loading, "BATCH_SECONDS", 0.0)  # a batch per record after the first 200
    monkeypatch.setattr(loading, "FIRST_SECONDS", 60.0)
    real = loading.api.read_molecules

    def slow(p):  # a file that takes a while to read (as 100,000 molecules do)
        import time

        for record in real(p):
            time.sleep(0.003)
            yield record

    monkeypatch.setattr(loading.api, "read_molecules", slow)
    path = tmp_path / "big.smi"
    path.write_text("".join(f"{'C' * (1 + i % 8)}O m{i}\n" for i in range(600)) + "C1CC bad\n")
    model = window.molecule_model
    seen: list[tuple[int, bool]] = []
    model.rowsInserted.connect(lambda *_: seen.append((model.rowCount(), job.is_running())))
    job = window.open_file(path)
    wait_job(job)
    assert seen[0][0] == 200 and seen[-1][0] == 601 and len(seen) > 2
    assert any(running for _, running in seen[:-1])  # rows were shown while the file was still being read
    assert [model.record_at(r).name for r in range(3)] == ["m0", "m1", "m2"]  # file order
    assert "601 records, " in window.molecules.summary.text() and "1 could not be read" in \
        window.molecules.summary.text()
    window.molecules.select_row(5)
    assert window.molecules.selected_record().name == "m5"


def test_streamed_rows_follow_the_filter_and_the_sort():
    model = MoleculeTableModel()
    records = api.molecules_from_text("CCC a\nC1CC bad\nC b")
    model.append_records(records[:1])
    model.set_filter("ok")
    model.sort(COL_SMILES)
    model.append_records(records[1:], ["extra"])
    assert [model.record_at(r).name for r in range(model.rowCount())] == ["b", "a"]  # sorted, the bad one hidden
    assert model.columns()[-1] == "extra"
    model.set_filter("all")
    assert model.rowCount() == 3


def test_no_prediction_while_the_file_is_still_read_and_a_failure_keeps_the_rows(window):
    tab = window.molecules
    tab.start_streaming(Path("big.smi"))
    tab.append_streamed(api.molecules_from_text("CCO a\nCCC b"), [])
    assert tab.streaming and window.property_panel.predict() is None
    assert "still being read" in window.property_panel.summary.text()
    tab.streaming_failed("big.smi: disk read error")
    assert not tab.streaming and window.molecule_model.rowCount() == 2
    assert "2 records read, then" in tab.summary.text() and "disk read error" in tab.summary.text()
