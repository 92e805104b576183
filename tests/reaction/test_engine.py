import json
import math

import pytest
import torch

from chemaccel import api
from chemaccel.checkpoint import read_model_info
from chemaccel.errors import ConfigError, ModelFileError
from chemaccel.reaction import ReactionConfig, ReactionModel, ReactionTrainer, load_model
from chemaccel.reaction.eole_bridge import complete_checkpoints
from chemaccel.reaction.model import Candidate, rank_candidates
from chemaccel.reporting import RecordingReporter
from chemaccel.runtime import RuntimeConfig
from tests.reaction.conftest import TINY

INPUTS = ["CC(=O)O.OCC", "CC(=O)Cl.Nc1ccccc1", "O=Cc1ccccc1"]


def test_train_predict_through_the_public_api(tiny_model):
    model = api.load_model(tiny_model)
    assert isinstance(model, ReactionModel) and 10_000 < model.num_parameters < 100_000
    rows = model.predict(INPUTS, k=3)
    assert [r.input for r in rows] == INPUTS
    for row in rows:
        assert row.ok and 1 <= len(row.candidates) <= 3
        assert all(math.isfinite(c.score) for c in row.candidates)
        assert all(isinstance(c.valid, bool) for c in row.candidates)
        # valid products first, each once; within each group the beam's order (best score first)
        flags = [c.valid for c in row.candidates]
        assert flags == sorted(flags, reverse=True)
        valid = [c for c in row.candidates if c.valid]
        assert len({c.smiles for c in valid}) == len(valid)
        for group in (valid, [c for c in row.candidates if not c.valid]):
            scores = [c.score for c in group]
            assert scores == sorted(scores, reverse=True)
    raw = model.predict(INPUTS, k=3, rank=False)  # the beam as decoded: k candidates, best score first
    for row, ranked in zip(raw, rows):
        assert len(row.candidates) == 3
        scores = [c.score for c in row.candidates]
        assert scores == sorted(scores, reverse=True)
        assert rank_candidates(row.candidates) == ranked.candidates
    info = read_model_info(tiny_model)
    assert info.engine == "reaction" and "vocab" in info.architecture
    assert not any(p.suffix in (".pt", ".pkl") for p in tiny_model.iterdir())


def test_the_model_folder_carries_no_path_of_the_training_machine(tiny_model):
    text = (tiny_model / "config.json").read_text()
    work = tiny_model.with_name(tiny_model.name + ".work")  # the trainer's default work folder
    assert work.is_dir() and str(work) not in text and str(tiny_model.parent) not in text
    eole = json.loads(text)["architecture"]["eole_config"]
    assert "data" not in eole and "model_path" not in eole["training"] and eole["src_vocab"] == "vocab.txt"


def test_rank_candidates_puts_valid_distinct_products_first():
    beam = [Candidate("C1CC", False, -0.1), Candidate("CCO", True, -0.2), Candidate("CC(", False, -0.3),
            Candidate("CCO", True, -0.4), Candidate("CCN", True, -0.5)]
    assert rank_candidates(beam) == [beam[1], beam[4], beam[0], beam[2]]
    assert rank_candidates([]) == []
    only_invalid = [Candidate("C1CC", False, -0.1), Candidate("CC(", False, -0.3)]
    assert rank_candidates(only_invalid) == only_invalid


def test_rank_candidates_moves_a_starting_material_after_the_products():
    beam = [Candidate("CC=O", True, -0.05), Candidate("CCO", True, -0.1), Candidate("CC(", False, -0.2),
            Candidate("CC(=O)O", True, -0.3)]
    ranked = rank_candidates(beam, frozenset({"CC=O", "[Na+]"}))
    assert [c.smiles for c in ranked] == ["CCO", "CC(=O)O", "CC=O", "CC("]
    assert [c.unchanged for c in ranked] == [False, False, True, False]
    assert ranked[2].score == -0.05  # only the flag changes
    assert rank_candidates(beam) == rank_candidates(beam, frozenset())  # no inputs: as before
    assert [c.unchanged for c in rank_candidates(beam[:1], frozenset({"CC=O"}))] == [True]


def test_save_load_round_trip_gives_the_same_predictions(tiny_model):
    # the eole pitfall: a config that asks for weights that were never trained gives NaN scores on reload
    first = load_model(tiny_model).predict(INPUTS, k=2)
    again = load_model(tiny_model).predict(INPUTS, k=2)
    assert first == again
    backwards = load_model(tiny_model).predict(INPUTS[::-1], k=2)
    # rows come back in input order, whatever order eole decodes a batch in
    assert [[c.smiles for c in r.candidates] for r in backwards[::-1]] == [[c.smiles for c in r.candidates]
                                                                          for r in first]
    assert all(math.isfinite(c.score) for r in again for c in r.candidates)
    # decoding one at a time gives the same beams as the default batch (padding does not leak in)
    alone = load_model(tiny_model).predict(INPUTS, k=2, batch_size=1)
    assert [[c.smiles for c in r.candidates] for r in alone] == [[c.smiles for c in r.candidates] for r in first]
    assert all(abs(a.score - b.score) < 1e-4 for x, y in zip(alone, first) for a, b in zip(x.candidates, y.candidates))


def test_bad_rows_are_reported_and_the_rest_predicted(tiny_model):
    model = load_model(tiny_model)
    long_input = "C" * (model.config.max_tokens + 1)
    rows = model.predict(["CC(=O)O.OCC", "", "not a reaction", "C1CC", "[U]", long_input, "CCO>>CC=O"], k=2)
    status = [r.status for r in rows]
    assert status[0] == "ok" and rows[0].candidates
    assert status[1] == "empty input"
    assert "not a SMILES" in status[2]
    assert "not a valid reactant SMILES" in status[3]
    assert "outside the model's vocabulary" in status[4] and "[U]" in status[4]
    assert "input too long" in status[5] and str(model.config.max_tokens) in status[5]
    assert status[6] == "ok"  # the product part of a full reaction is ignored
    assert all("\n" not in s for s in status)
    with pytest.raises(ConfigError):
        model.predict(["CCO"], k=0)


def test_cancel_leaves_a_valid_checkpoint_and_model_and_resume_continues(tmp_path, uspto_tiny):
    out = tmp_path / "m"
    cfg = ReactionConfig(**{**TINY, "steps": 6, "save_every": 100, "valid_every": 100})
    trainer = ReactionTrainer(cfg, uspto_tiny, out, runtime=RuntimeConfig(device="cpu"))
    reporter = RecordingReporter(stop_after=2)
    result = trainer.run(reporter)
    assert result.cancelled and result.last_step == 2
    assert [s for s, _ in complete_checkpoints(trainer.work)] == [2]
    assert len(reporter.progress) == 2 and "loss" in reporter.progress[0][2]
    assert load_model(out).predict(["CCO"], k=1)[0].ok
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        ReactionTrainer(cfg, uspto_tiny, out, runtime=RuntimeConfig(device="cpu")).run()
    resumed = ReactionTrainer(cfg, uspto_tiny, out, runtime=RuntimeConfig(device="cpu")).run(resume=True)
    assert not resumed.cancelled and resumed.last_step == 6
    assert read_model_info(out).metrics["steps"] == 6
    changed = cfg.replace(layers=2)
    with pytest.raises(ConfigError, match="different layers"):
        ReactionTrainer(changed, uspto_tiny, out, runtime=RuntimeConfig(device="cpu")).run(resume=True)


def test_a_model_folder_of_another_engine_is_refused(tmp_path):
    import torch

    from chemaccel.checkpoint import ModelInfo, save_model_folder

    other = save_model_folder(tmp_path / "other", ModelInfo(engine="prune", config={}),
                              {"w": torch.zeros(2)})
    with pytest.raises(ModelFileError, match="not a reaction model"):
        load_model(other)
    folder = tmp_path / "broken"
    save_model_folder(folder, ModelInfo(engine="reaction", config={}), {"w": torch.zeros(2)})
    with pytest.raises(ModelFileError, match="architecture"):
        load_model(folder)
    (tmp_path / "model.pt").write_bytes(b"\x80\x04junk")
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(tmp_path / "model.pt")


def test_train_reaction_api_takes_a_dict(tmp_path, uspto_tiny):
    result = api.train_reaction({**TINY, "steps": 2}, uspto_tiny, tmp_path / "m",
                                runtime=RuntimeConfig(device="cpu"))
    assert result.last_step == 2 and not result.cancelled
    assert api.load_model(result.model_dir).predict(["CCO"], k=1)[0].ok
    with pytest.raises(ConfigError, match="unknown reaction config key"):
        api.train_reaction({"width": 3}, uspto_tiny, tmp_path / "x")


def _weights(folder):
    from chemaccel.checkpoint import load_safetensors

    return load_safetensors(folder / "model.safetensors")


def _max_difference(a, b):
    assert set(a) == set(b)
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_init_from_starts_a_new_training_at_the_models_weights(tmp_path, uspto_tiny, tiny_model):
    # one step at a negligible learning rate: a warm start ends next to the source weights, a cold one does not
    one_step = ReactionConfig(**{**TINY, "steps": 1, "save_every": 1, "valid_every": 1, "learning_rate": 1e-6,
                                 "seed": 7})
    reporter = RecordingReporter()
    warm = ReactionTrainer(one_step, uspto_tiny, tmp_path / "warm", runtime=RuntimeConfig(device="cpu"),
                           init_from=tiny_model).run(reporter)
    cold = ReactionTrainer(one_step, uspto_tiny, tmp_path / "cold", runtime=RuntimeConfig(device="cpu")).run()
    source = _weights(tiny_model)
    assert warm.last_step == 1  # a new schedule: the step count starts again
    assert _max_difference(_weights(warm.model_dir), source) < 1e-4
    assert _max_difference(_weights(cold.model_dir), source) > 1e-2
    assert any("starting from the weights of" in m for m in reporter.messages)
    assert load_model(warm.model_dir).predict(["CCO.CC(=O)O"], k=2)[0].candidates  # loads and predicts


def test_a_warm_started_training_resumes_at_its_step(tmp_path, uspto_tiny, tiny_model):
    # eole keeps the first run's reset_optim "all" in its checkpoints: a resume must not start the
    # step count and the learning-rate schedule again
    cfg = ReactionConfig(**{**TINY, "steps": 6, "save_every": 2, "valid_every": 100})
    out = tmp_path / "warm"
    first = ReactionTrainer(cfg, uspto_tiny, out, runtime=RuntimeConfig(device="cpu"), init_from=tiny_model)
    assert first.run(RecordingReporter(stop_after=2)).last_step == 2
    reporter = RecordingReporter()
    resumed = ReactionTrainer(cfg, uspto_tiny, out, runtime=RuntimeConfig(device="cpu"),
                              init_from=tiny_model).run(reporter, resume=True)
    assert resumed.last_step == 6 and not resumed.cancelled
    assert [step for step, _, _ in reporter.progress] == [3, 4, 5, 6]


def test_init_from_a_model_of_another_architecture_is_refused(tmp_path, uspto_tiny, tiny_model):
    wider = ReactionConfig(**{**TINY, "hidden_size": 64})
    with pytest.raises(ConfigError, match="different architecture.*hidden_size 32 vs 64"):
        ReactionTrainer(wider, uspto_tiny, tmp_path / "m", runtime=RuntimeConfig(device="cpu"),
                        init_from=tiny_model).run()


def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, uspto_tiny):
    out = tmp_path / "m"
    cfg = ReactionConfig(**{**TINY, "steps": 4, "save_every": 2, "valid_every": 2})
    trainer = ReactionTrainer(cfg, uspto_tiny, out, runtime=RuntimeConfig(device="cpu"))
    trainer.run()
    (step2, _), (step4, newest) = complete_checkpoints(trainer.work)
    assert (step2, step4) == (2, 4)
    weights = newest / "model.00.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    reporter = RecordingReporter()
    longer = ReactionTrainer(cfg.replace(steps=6), uspto_tiny, out, runtime=RuntimeConfig(device="cpu"))
    result = longer.run(reporter, resume=True)
    assert any("checkpoint at step 4 is damaged" in m and "truncated" in m for m in reporter.messages)
    assert any("resuming from step_2" in m for m in reporter.messages)
    assert result.last_step == 6 and not result.cancelled


def test_init_from_names_corpus_tokens_the_model_does_not_know(tmp_path, tiny_model):
    from tests.reaction.conftest import REACTIONS, write_uspto50k

    with_selenium = [*REACTIONS, ("[SeH]c1ccccc1.CI", "C[Se]c1ccccc1", 1)]
    data = write_uspto50k(tmp_path / "data", with_selenium)
    cfg = ReactionConfig(**{**TINY, "steps": 1, "save_every": 1, "valid_every": 1})
    reporter = RecordingReporter()
    ReactionTrainer(cfg, data, tmp_path / "m", runtime=RuntimeConfig(device="cpu"), init_from=tiny_model).run(reporter)
    unknown = [m for m in reporter.messages if "not in tiny's vocabulary" in m]
    assert len(unknown) == 1 and "[SeH]" in unknown[0] and "[Se]" in unknown[0]
    # the tokens are added, not mapped to <unk>: the warm-started model reads selenium, and every old
    # token keeps its index and its embedding row
    before, after = load_model(tiny_model), load_model(tmp_path / "m")
    old_vocab = json.loads((tiny_model / "config.json").read_text())["architecture"]["vocab"]["src"]
    new_vocab = json.loads((tmp_path / "m" / "config.json").read_text())["architecture"]["vocab"]["src"]
    assert new_vocab[:len(old_vocab)] == old_vocab and {"[SeH]", "[Se]"} <= set(new_vocab[len(old_vocab):])
    assert after.predict(["[SeH]c1ccccc1.CI"], k=1)[0].ok and not before.predict(["[SeH]c1ccccc1.CI"], k=1)[0].ok
    emb = "src_emb.embeddings.weight"
    old_rows, new_rows = _weights(tiny_model)[emb], _weights(tmp_path / "m")[emb]
    assert new_rows.shape[0] == len(new_vocab)
    assert float((new_rows[:len(old_vocab)] - old_rows).abs().max()) < 0.05  # one step moved them a little


def test_a_shallower_decoder_trains_loads_and_reports_its_depth(tmp_path, uspto_tiny):
    cfg = ReactionConfig(**{**TINY, "layers": 2, "decoder_layers": 1, "steps": 2})
    result = ReactionTrainer(cfg, uspto_tiny, tmp_path / "m", runtime=RuntimeConfig(device="cpu")).run()
    model = load_model(result.model_dir)
    module = model._engine.predictor.model
    assert (len(module.encoder.transformer_layers), len(module.decoder.transformer_layers)) == (2, 1)
    assert model.config.n_decoder_layers == 1 and "2 + 1 layers" in repr(model)
    assert model.predict(["CCO.CC(=O)O"], k=2)[0].candidates


def test_drop_decoder_layers_keeps_the_chosen_layers_and_fine_tunes(tmp_path, uspto_tiny):
    from chemaccel.reaction.storage import drop_decoder_layers

    two = ReactionTrainer(ReactionConfig(**{**TINY, "layers": 2, "steps": 2}), uspto_tiny, tmp_path / "two",
                          runtime=RuntimeConfig(device="cpu")).run().model_dir
    pruned = drop_decoder_layers(two, tmp_path / "pruned", [1])
    source, kept = _weights(two), _weights(pruned)
    layer1 = {k: v for k, v in source.items() if k.startswith("decoder.transformer_layers.1.")}
    assert layer1 and all(torch.equal(kept[k.replace(".1.", ".0.", 1)], v) for k, v in layer1.items())
    assert not any(k.startswith("decoder.transformer_layers.1.") for k in kept)
    assert all(torch.equal(kept[k], v) for k, v in source.items() if not k.startswith("decoder."))
    model = load_model(pruned)
    assert model.config.n_decoder_layers == 1 and model.config.layers == 2
    assert model.num_parameters < load_model(two).num_parameters
    assert model.predict(["CCO.CC(=O)O"], k=2)[0].candidates
    # a fine-tune of the shallower model starts at the kept weights
    tune = ReactionConfig(**{**TINY, "layers": 2, "decoder_layers": 1, "steps": 1, "save_every": 1,
                             "valid_every": 1, "learning_rate": 1e-6})
    tuned = ReactionTrainer(tune, uspto_tiny, tmp_path / "tuned", runtime=RuntimeConfig(device="cpu"),
                            init_from=pruned).run()
    assert _max_difference(_weights(tuned.model_dir), kept) < 1e-4
    with pytest.raises(ConfigError, match="different architecture.*n_decoder_layers 1 vs 2"):
        ReactionTrainer(ReactionConfig(**{**TINY, "layers": 2}), uspto_tiny, tmp_path / "x",
                        runtime=RuntimeConfig(device="cpu"), init_from=pruned).run()
    for keep in ([], [2], [0, 0]):
        with pytest.raises(ConfigError, match="keep decoder layers"):
            drop_decoder_layers(two, tmp_path / "bad", keep)


def test_a_compact_model_fine_tunes_from_its_kept_weights(tmp_path, uspto_tiny):
    """Heads and neurons removed (chemaccel.reaction.compact), then a fine-tune that starts at what was kept."""
    from chemaccel.reaction.compact import shrink_model

    full = ReactionTrainer(ReactionConfig(**{**TINY, "steps": 2}), uspto_tiny, tmp_path / "full",
                           runtime=RuntimeConfig(device="cpu")).run().model_dir
    small = shrink_model(full, tmp_path / "small", heads=1, neurons=40)
    model = load_model(small)
    assert (model.config.heads, model.config.head_width, model.config.ff_size) == (1, 16, 40)
    assert model.predict(["CCO.CC(=O)O"], k=2)[0].status == "ok"
    # the API (and `reaction train --keep-heads 1 --keep-neurons 40`) does both steps; the config takes the shape
    from chemaccel import api

    tune = ReactionConfig(**{**TINY, "steps": 1, "save_every": 1, "valid_every": 1, "learning_rate": 1e-6})
    tuned = api.train_reaction(tune, uspto_tiny, tmp_path / "tuned", runtime=RuntimeConfig(device="cpu"),
                               init_from=full, keep_heads=1, keep_neurons=40)
    assert _max_difference(_weights(tuned.model_dir), _weights(small)) < 1e-4
    assert load_model(tuned.model_dir).config.heads == 1
    # one head of the full width (32) is another architecture than one head of 16
    with pytest.raises(ConfigError, match="different architecture.*head_width 16 vs 32"):
        ReactionTrainer(ReactionConfig(**{**TINY, "heads": 1, "ff_size": 40}), uspto_tiny, tmp_path / "x",
                        runtime=RuntimeConfig(device="cpu"), init_from=small).run()


def _write_corpus(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid"):
        lines = ["reactants\treagents\tproduct\tsource"] + ["\t".join(r) for r in rows]
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_training_from_a_corpus_writes_each_reaction_as_the_model_reads_it(tmp_path):
    from tests.reaction.conftest import REACTIONS

    # reagents typed with the reactants: the known ones (triethylamine, [Na+], dichloromethane) are set
    # aside in training exactly as predict sets them aside; an unknown one stays where the model sees it
    rows = [(r, "CCN(CC)CC.ClCCl" if i % 2 else "[Na+].[OH-]", p, "t") for i, (r, p, _) in enumerate(REACTIONS)]
    rows.append(("CC(=O)Cl.Nc1ccccc1", "c1ccc2ccccc2c1", "CC(=O)Nc1ccccc1", "t"))
    data = _write_corpus(tmp_path / "corpus", rows)
    cfg = ReactionConfig(**{**TINY, "steps": 1, "save_every": 1, "valid_every": 1})
    result = ReactionTrainer(cfg, data, tmp_path / "m", runtime=RuntimeConfig(device="cpu")).run()
    sources = (result.model_dir.with_name("m.work") / "src-train.txt").read_text().splitlines()
    assert len(sources) == len(rows)
    joined = [s.replace(" ", "") for s in sources]
    assert joined[1] == "CC(=O)Cl.NCc1ccccc1"  # + triethylamine + dichloromethane, both set aside
    # methanol is a known reagent (a solvent far more often than a reactant): set aside here as in predict,
    # which is why a Fischer esterification typed without '>' loses its alcohol (see known_reagents)
    assert joined[2] == "O=C(O)c1ccccc1"
    assert joined[-1] == "CC(=O)Cl.Nc1ccccc1.c1ccc2ccccc2c1"  # no known reagent: the model reads it in use too
    # acetic acid + ethanol + NaOH: every part is a known reagent, so nothing is set aside (as in predict)
    assert joined[0] == "CC(=O)O.CCO.[Na+].[OH-]"
    model = load_model(result.model_dir)
    assert model.predict(["CC(=O)Cl.Nc1ccccc1.CCN(CC)CC"], k=1)[0].note == "reagents set aside: CCN(CC)CC"


def test_a_corpus_without_its_header_is_refused_with_the_file(tmp_path):
    from chemaccel.errors import InputError
    from chemaccel.reaction.data import load_pairs

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "train.tsv").write_text("CCO\t\tCC=O\tx\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"train\.tsv: not a reaction corpus"):
        load_pairs(folder, "train")
    (folder / "train.tsv").write_text("reactants\treagents\tproduct\tsource\nCCO\t\t\tx\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"train\.tsv: record 2: needs reactants, reagents and product"):
        load_pairs(folder, "train")


def test_a_model_trained_with_rare_tokens_as_unk_reads_past_an_unknown_token(tmp_path, tiny_model):
    from tests.reaction.conftest import REACTIONS

    rows = [(r, "", p, "t") for r, p, _ in REACTIONS] + [("[SeH]c1ccccc1.CI", "", "C[Se]c1ccccc1", "t")]
    data = _write_corpus(tmp_path / "corpus", rows)
    _write_corpus(tmp_path / "valid-only", rows[:-1]).joinpath("valid.tsv").replace(data / "valid.tsv")
    cfg = ReactionConfig(**{**TINY, "steps": 2, "save_every": 2, "valid_every": 2, "min_token_count": 2})
    reporter = RecordingReporter()
    result = ReactionTrainer(cfg, data, tmp_path / "m", runtime=RuntimeConfig(device="cpu"),
                             init_from=tiny_model).run(reporter)
    assert any("seen fewer than 2 times are read as <unk>" in m for m in reporter.messages)
    vocab = json.loads((result.model_dir / "config.json").read_text())["architecture"]["vocab"]["src"]
    assert "[SeH]" not in vocab  # seen once: left out, read as <unk> in training
    model = load_model(result.model_dir)
    row = model.predict(["[SeH]c1ccccc1.CI"], k=2)[0]
    assert row.ok and row.note == "read as unknown: [SeH]" and row.candidates
    refused = model.predict(["[SeH][SeH]"], k=2)[0]
    assert not refused.ok and "nothing the model can read" in refused.status and "[SeH]" in refused.status
    # a model never trained on <unk> still refuses, naming the token
    old = load_model(tiny_model).predict(["[SeH]c1ccccc1.CI"], k=2)[0]
    assert not old.ok and "outside the model's vocabulary: [SeH]" in old.status


def test_fixed_length_rate_times_equal_work_and_restores_the_model(tiny_model, monkeypatch):
    """The speed benchmarks' measure: every beam decodes exactly ``length`` tokens (eole's min_length =
    max_length), refused rows are skipped, and the model predicts as before afterwards."""
    from chemaccel.errors import ConfigError

    model = api.load_model(tiny_model)
    reactions = ["CC(=O)O.OCC", "CCO.CC(=O)Cl"]
    before = model.predict(reactions, k=3, rank=False)
    seen: list[dict] = []
    engine = model._engine
    infer = engine.infer_list

    def spy(sources, settings=None):
        seen.append({"rows": len(sources), **(settings or {})})
        return infer(sources, settings=settings)

    monkeypatch.setattr(engine, "infer_list", spy)
    rate = model.fixed_length_rate(reactions + ["not a reaction"], 7, k=2, batch_size=1)
    assert rate > 0
    assert [(s["rows"], s["min_length"], s["max_length"], s["beam_size"]) for s in seen] == [(1, 7, 7, 2)] * 2
    monkeypatch.undo()
    after = model.predict(reactions, k=3, rank=False)
    assert [[c.smiles for c in p.candidates] for p in after] == [[c.smiles for c in p.candidates] for p in before]
    with pytest.raises(ConfigError, match="length must be"):
        model.fixed_length_rate(reactions, 0)
    with pytest.raises(ConfigError, match="no reaction this model can read"):
        model.fixed_length_rate(["not a reaction"], 5)


def test_a_warm_start_stored_at_half_precision_trains_in_float32(tmp_path, uspto_tiny, tiny_model):
    """A model carried at half its size (scripts/pack_reaction_leg.sh with INIT=MODEL) starts a run as its float32
    self (eole copies the weights into its float32 parameters)."""
    import shutil

    from safetensors.torch import save_file

    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(tiny_model / "config.json", half / "config.json")
    save_file({k: v.half() for k, v in _weights(tiny_model).items()}, str(half / "model.safetensors"))
    cfg = ReactionConfig(**{**TINY, "steps": 1, "save_every": 1, "valid_every": 1, "learning_rate": 1e-9})
    out = ReactionTrainer(cfg, uspto_tiny, tmp_path / "tuned", runtime=RuntimeConfig(device="cpu"),
                          init_from=half).run().model_dir
    tuned, start = _weights(out), _weights(tiny_model)
    assert all(t.dtype == torch.float32 for t in tuned.values())
    assert 0 < _max_difference(tuned, start) < 2e-3  # the half-precision rounding, nothing else
