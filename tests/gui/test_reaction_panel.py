"""The Reaction panel predicts top-k products with the shipped model; bad rows show their reason."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytest.importorskip("eole", reason="the reaction engine needs eole (pip install 'chemaccel[reaction]')")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402

from chemaccel_gui.molecule_model import ERROR_COLOR  # noqa: E402
from chemaccel_gui.reaction_panel import (  # noqa: E402
    COL_CONFIDENCE,
    COL_INPUT,
    COL_PRODUCT,
    COL_RANK,
    COL_SCORE,
    COL_SMILES,
    COL_VALID,
    NOTE_COLOR,
    validity_mark,
)


def predict(window, wait_job, text: str, k: int = 3):
    panel = window.reaction_panel
    window.tabs.setCurrentWidget(panel)
    panel.input.setPlainText(text)
    panel.k_spin.setValue(k)
    job = panel.predict()
    wait_job(job)
    assert job.error is None, job.error
    return panel


def test_the_shipped_model_is_chosen(window):
    assert window.reaction_panel.picker.path().name == "uspto-forward-reagents"


def test_top_k_candidates_with_depictions_scores_and_validity(window, wait_job, messages):
    panel = predict(window, wait_job, "CC(=O)Cl.Nc1ccccc1", k=3)
    [result] = panel.results
    prediction = result.prediction
    assert prediction.ok and len(prediction.candidates) == 3
    assert prediction.candidates[0].smiles == "CC(=O)Nc1ccccc1"  # acetanilide
    table = panel.table
    assert table.rowCount() == 3 and table.rowSpan(0, COL_INPUT) == 3
    assert not table.item(0, COL_INPUT).icon().isNull()  # the reactants are drawn
    for row, candidate in enumerate(prediction.candidates):
        assert table.item(row, COL_RANK).text() == str(row + 1)
        assert table.item(row, COL_SMILES).text() == candidate.smiles
        assert float(table.item(row, COL_SCORE).text()) == pytest.approx(candidate.score, abs=1e-3)
        mark = table.item(row, COL_VALID).text()
        assert mark == validity_mark(candidate)[0]
        if candidate.valid:
            assert not table.item(row, COL_PRODUCT).icon().isNull()
    scores = [c.score for c in prediction.candidates]
    assert scores == sorted(scores, reverse=True)
    # the calibrated confidence of the first product, on its row only
    assert table.item(0, COL_CONFIDENCE).text() == f"{prediction.confidence:.0%}"
    assert table.item(1, COL_CONFIDENCE) is None
    assert "1 of 1 reactions predicted" in panel.summary.text()
    assert messages == []


def test_a_bad_reaction_smiles_shows_its_reason_in_red(window, wait_job, messages):
    panel = predict(window, wait_job, "C1CC\nCC(=O)O.OCC", k=2)
    bad, good = panel.results
    assert not bad.prediction.ok and "unclosed ring" in bad.prediction.status
    reason = panel.table.item(0, COL_RANK)
    assert "unclosed ring" in reason.text() and "\n" not in reason.text()
    assert reason.foreground().color() == ERROR_COLOR
    assert panel.table.columnSpan(0, COL_RANK) > 1
    assert good.prediction.ok and panel.table.rowCount() == 1 + 2
    assert "could not be read" in panel.summary.text()
    assert messages == []  # a bad row is not a failure of the job


def test_a_note_on_how_the_input_was_read_is_written_in_the_input_cell(window, wait_job, messages):
    # water and a salt alone: only known reagents typed, so all are read as reactants (a note says so)
    panel = predict(window, wait_job, "CC(=O)Cl.Nc1ccccc1\nO.[Na+].[Cl-]", k=1)
    plain, noted = panel.results
    assert plain.prediction.note == "" and "only known reagents" in noted.prediction.note
    first, second = panel.table.item(0, COL_INPUT), panel.table.item(1, COL_INPUT)
    assert first.text() == "" and first.foreground().color() != NOTE_COLOR  # drawn, nothing to note
    assert second.text() == "note: " + noted.prediction.note  # visible, not only in the tooltip
    assert panel.table.rowHeight(1) > panel.table.rowHeight(0)  # room for the note under the drawing
    assert second.foreground().color() == NOTE_COLOR
    assert noted.prediction.note in second.toolTip()
    assert "1 read with a note" in panel.summary.text()
    assert messages == []


def test_empty_input_says_so_inline(window):
    panel = window.reaction_panel
    assert panel.predict() is None
    assert "No reactions" in panel.summary.text()


def test_load_a_reaction_file(window, tmp_path, messages):
    path = tmp_path / "reactions.smi"
    path.write_text("# a comment\nCC(=O)O.OCC acetic acid + ethanol\n\nc1ccccc1Br.OB(O)c1ccccc1\n")
    panel = window.reaction_panel
    assert panel.load_file(path)
    assert panel.reactions() == ["CC(=O)O.OCC", "c1ccccc1Br.OB(O)c1ccccc1"]
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)))
    assert not panel.load_file(binary)
    kind, _title, text = messages[-1]
    assert kind == "warning" and "not a text file" in text and "\n" not in text
    assert panel.reactions() == ["CC(=O)O.OCC", "c1ccccc1Br.OB(O)c1ccccc1"]  # unchanged
    assert not panel.load_file(tmp_path / "missing.smi")
    assert "file not found" in messages[-1][2]


def test_table_rows_fit_the_depictions(window, wait_job):
    panel = predict(window, wait_job, "CC(=O)O.OCC", k=1)
    assert panel.table.rowCount() == 1
    assert panel.table.rowHeight(0) >= panel.table.iconSize().height()
    assert panel.results[0].prediction.candidates[0].valid
    assert panel.table.item(0, COL_VALID).foreground().color() == Qt.GlobalColor.darkGreen


def test_two_decoding_processes_give_the_one_process_products(window, wait_job):
    """The panel's parallel path is `reaction predict --workers`': spawned processes, the same products and
    scores, a bad row still a row with its reason."""
    import os

    panel = window.reaction_panel
    assert panel.processes(10) == 1 and panel.processes(5_000) == min(os.cpu_count() or 1, 4)  # "auto"
    text = "\n".join(["CC(=O)Cl.Nc1ccccc1", "C1CC", "CC(=O)O.OCC", "Brc1ccccc1.OB(O)c1ccccc1"] * 3)
    panel.workers.setValue(1)
    one = [(r.prediction.status, [(c.smiles, round(c.score, 4)) for c in r.prediction.candidates])
           for r in predict(window, wait_job, text, k=2).results]
    panel.workers.setValue(2)
    two = [(r.prediction.status, [(c.smiles, round(c.score, 4)) for c in r.prediction.candidates])
           for r in predict(window, wait_job, text, k=2).results]
    assert two == one and len(one) == 12
    assert sum("unclosed ring" in status for status, _ in two) == 3
    assert "9 of 12 reactions predicted" in panel.summary.text()


def test_cancel_with_processes_shuts_them_down(window, wait_job):
    import multiprocessing

    panel = window.reaction_panel
    panel.workers.setValue(2)
    panel.input.setPlainText("\n".join(["CC(=O)Cl.Nc1ccccc1"] * 200))
    job = panel.predict()
    job.cancel()  # while the processes start or decode the first chunks
    wait_job(job)
    assert job.error is None
    assert "cancelled" in panel.summary.text()
    assert panel.predict_button.isEnabled()
    assert multiprocessing.active_children() == []


def test_the_validity_cell_tells_a_starting_material_given_back_from_a_product():
    from chemaccel.reaction.model import Candidate

    assert validity_mark(Candidate("CC(=O)Nc1ccccc1", True, -0.1))[0] == "\u2713 valid"
    assert validity_mark(Candidate("C1CC", False, -0.5))[0] == "\u2717 invalid"
    text, _, tip = validity_mark(Candidate("Nc1ccccc1", True, -0.05, unchanged=True))
    assert text == "= starting material" and "predicts no reaction" in tip
