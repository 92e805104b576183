"""scripts/check_reagent_set_aside.py: the reading with the reacting molecules kept is predict's reading
when nothing is set aside, and keeps a known reagent that reacts (methanol) when predict would drop it."""

from __future__ import annotations

from chemaccel import api
from chemaccel.reaction.data import load_pairs
from chemaccel.reaction.reagents import components, known_reagents
from tests.scripts import load_script


def test_reacting_read_too_matches_predict_without_known_reagents(tiny_model, uspto_tiny):
    model = api.load_model(tiny_model)
    known = known_reagents()
    pairs, _ = load_pairs(uspto_tiny, "train")
    rows = [{"reactants": p.src} for p in pairs if not any(c in known for c in components(p.src))][:6]
    assert len(rows) >= 3
    tops = load_script("check_reagent_set_aside").reacting_read_too(model, rows)
    assert tops == [p.top1 for p in model.predict([r["reactants"] for r in rows], k=5)]


def test_a_reacting_known_reagent_is_read(tiny_model, monkeypatch):
    model = api.load_model(tiny_model)
    seen: list[str] = []
    beam = model._beam

    def spy(sources, k, batch_size):
        seen.extend(sources)
        return beam(sources, k, batch_size)

    monkeypatch.setattr(model, "_beam", spy)
    load_script("check_reagent_set_aside").reacting_read_too(model, [{"reactants": "O=C(O)c1ccccc1.CO"}])
    model.predict(["O=C(O)c1ccccc1.CO"], k=5)
    read_too, predicted = seen
    assert read_too.split() == ["C", "O", ".", "O", "=", "C", "(", "O", ")", "c", "1", "c", "c", "c", "c", "c", "1"]
    assert predicted.split() == ["O", "=", "C", "(", "O", ")", "c", "1", "c", "c", "c", "c", "c", "1"]  # methanol set aside
