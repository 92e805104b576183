import csv
import json

from chemaccel.cli import main

KEYS = {"n", "top1", "top2", "top3", "top5", "invalid_rate", "params", "reactions_per_s"}


def test_predict_cli_keeps_order_and_reports_each_row(tmp_path, tiny_model, capsys):
    src = tmp_path / "in.txt"
    src.write_text("CC(=O)O.OCC\n\nnot a reaction\nCC(=O)Cl.Nc1ccccc1>>\nC1CC\n")
    out = tmp_path / "out.csv"
    assert main(["--device", "cpu", "reaction", "predict", str(src), "-m", str(tiny_model), "-k", "2",
                 "-o", str(out), "--chunk", "2"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["row"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["input"] for r in rows] == ["CC(=O)O.OCC", "", "not", "CC(=O)Cl.Nc1ccccc1>>", "C1CC"]  # a name dropped
    assert [r["status"] == "ok" for r in rows] == [True, False, False, True, False]
    assert rows[0]["product_1"] and rows[0]["valid_1"] in ("0", "1") and float(rows[0]["score_2"]) <= 0.5
    assert "5 rows: 2 predicted" in capsys.readouterr().err


def test_predict_cli_reads_a_csv_column(tmp_path, tiny_model):
    src = tmp_path / "in.csv"
    src.write_text("id,reactants\n1,CC(=O)O.OCC\n2,CCO\n")
    out = tmp_path / "out.csv"
    assert main(["--device", "cpu", "reaction", "predict", str(src), "-m", str(tiny_model), "-k", "1",
                 "-o", str(out)]) == 0
    assert [r["input"] for r in csv.DictReader(out.open())] == ["CC(=O)O.OCC", "CCO"]


def test_bad_inputs_are_one_line_errors(tmp_path, tiny_model, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["reaction", "predict", str(empty), "-m", str(tiny_model), "-o", str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert "empty" in err and err.count("\n") == 1 and not (tmp_path / "o.csv").exists()
    src = tmp_path / "in.txt"
    src.write_text("CCO\n")
    assert main(["reaction", "predict", str(src), "-m", str(tmp_path / "nope")]) == 1
    assert "no such model folder" in capsys.readouterr().err
    assert main(["reaction", "predict", str(tmp_path / "missing.txt"), "-m", str(tiny_model)]) == 1
    assert "file not found" in capsys.readouterr().err


def test_evaluate_json_keys(tiny_model, uspto_tiny, capsys):
    assert main(["--device", "cpu", "reaction", "evaluate", str(tiny_model), "--data", str(uspto_tiny),
                 "--split", "test", "--limit", "8", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert KEYS <= set(stats) and stats["n"] == 8 and stats["format"] == "uspto50k"
    assert all(0.0 <= stats[k] <= 1.0 for k in ("top1", "top2", "top3", "top5", "invalid_rate"))
    assert stats["top1"] <= stats["top2"] <= stats["top3"] <= stats["top5"]
    assert "per_class" in stats and stats["reactions_per_s"] > 0


def test_evaluate_reads_the_uspto_mit_format(tmp_path, tiny_model, capsys):
    (tmp_path / "valid.txt").write_text(
        "[CH3:1][C:2](=[O:3])[OH:4].[CH3:5][CH2:6][OH:7]>>[CH3:1][C:2](=[O:3])[O:7][CH2:6][CH3:5] 2-4;2-7\n"
    )
    assert main(["--device", "cpu", "reaction", "evaluate", str(tiny_model), "--data", str(tmp_path),
                 "--split", "valid", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["format"] == "uspto_mit" and stats["n"] == 1 and "per_class" not in stats


def test_train_cli_small_run(tmp_path, uspto_tiny, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"layers": 1, "hidden_size": 32, "heads": 2, "ff_size": 64, "batch_tokens": 512,
                               "keep_checkpoints": 1, "average_last": 1, "max_tokens": 100}))
    out = tmp_path / "cli-model"
    assert main(["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "2",
                 "--config", str(cfg), "-o", str(out)]) == 0
    assert "saved" in capsys.readouterr().out and (out / "model.safetensors").is_file()
    assert main(["reaction", "train", "--data", str(uspto_tiny), "--steps", "2", "-o", str(out),
                 "--config", str(cfg)]) == 1
    assert "--resume" in capsys.readouterr().err


def test_train_cli_fine_tunes_a_shallower_decoder(tmp_path, uspto_tiny, capsys):
    from chemaccel.reaction import load_model

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"layers": 2, "hidden_size": 32, "heads": 2, "ff_size": 64, "batch_tokens": 512,
                               "keep_checkpoints": 1, "average_last": 1, "max_tokens": 100}))
    two = tmp_path / "two"
    assert main(["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "1",
                 "--config", str(cfg), "-o", str(two)]) == 0
    one = tmp_path / "one"
    assert main(["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "1",
                 "--config", str(cfg), "--init-from", str(two), "--keep-decoder-layers", "1", "-o", str(one)]) == 0
    model = load_model(one)
    assert (model.config.layers, model.config.n_decoder_layers) == (2, 1)
    assert (tmp_path / "one.work" / "init-model" / "model.safetensors").is_file()
    # a second leg from the shallower model needs no depth flag: it trains on at its own depth
    again = tmp_path / "one-again"
    assert main(["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "1",
                 "--config", str(cfg), "--init-from", str(one), "-o", str(again)]) == 0
    assert load_model(again).config.n_decoder_layers == 1
    capsys.readouterr()
    assert main(["reaction", "train", "--data", str(uspto_tiny), "--config", str(cfg), "--keep-decoder-layers",
                 "0", "-o", str(tmp_path / "x")]) == 1
    assert "needs --init-from" in capsys.readouterr().err
    assert main(["reaction", "train", "--data", str(uspto_tiny), "--config", str(cfg), "--init-from", str(two),
                 "--keep-decoder-layers", "0,5", "-o", str(tmp_path / "y")]) == 1
    err = capsys.readouterr().err
    assert "keep decoder layers [0, 5]" in err and "Traceback" not in err
    assert main(["reaction", "train", "--data", str(uspto_tiny), "--config", str(cfg), "--init-from", str(two),
                 "--keep-decoder-layers", "first", "-o", str(tmp_path / "z")]) == 1
    assert "layer numbers separated by commas, not 'first'" in capsys.readouterr().err
    assert main(["reaction", "train", "--data", str(uspto_tiny), "--config", str(cfg), "--init-from", str(two),
                 "--keep-decoder-layers", "0", "--decoder-layers", "2", "-o", str(tmp_path / "w")]) == 1
    assert "--decoder-layers 2 but --keep-decoder-layers keeps 1 layers" in capsys.readouterr().err


def test_train_cli_fine_tunes_a_decoder_with_fewer_heads(tmp_path, uspto_tiny, tiny_model, capsys):
    """--keep-decoder-heads removes heads from the decoder alone (the encoder keeps its own) and fine-tunes
    from exactly the weights kept; with --prune-budget it is a one-line error."""
    from chemaccel.reaction import load_model
    from chemaccel.reaction.compact import shrink_model
    from chemaccel.checkpoint import load_safetensors

    cfg = tmp_path / "cfg.json"  # tiny_model's shape (2 heads of 16), a learning rate too small to move it
    cfg.write_text(json.dumps({"layers": 1, "hidden_size": 32, "heads": 2, "ff_size": 64, "batch_tokens": 512,
                               "keep_checkpoints": 1, "average_last": 1, "max_tokens": 100,
                               "learning_rate": 1e-9, "warmup_steps": 1}))
    out = tmp_path / "dec1"
    assert main(["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "1", "--config",
                 str(cfg), "--init-from", str(tiny_model), "--keep-decoder-heads", "1", "-o", str(out)]) == 0
    model = load_model(out)
    assert (model.config.heads, model.config.n_decoder_heads, model.config.n_decoder_ff) == (2, 1, 64)
    expected = load_safetensors(shrink_model(tiny_model, tmp_path / "shrunk", decoder_heads=1) / "model.safetensors")
    tuned = load_safetensors(out / "model.safetensors")
    assert tuned.keys() == expected.keys()
    assert max(float((tuned[k].float() - expected[k].float()).abs().max()) for k in expected) < 1e-4
    capsys.readouterr()
    # a second leg from the compact model needs no shape flags: it trains on at its own shape
    again = tmp_path / "dec1-again"
    assert main(["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "1", "--config",
                 str(cfg), "--init-from", str(out), "-o", str(again)]) == 0
    assert load_model(again).config.n_decoder_heads == 1
    capsys.readouterr()
    assert main(["reaction", "train", "--data", str(uspto_tiny), "--config", str(cfg), "--init-from",
                 str(tiny_model), "--keep-decoder-heads", "1", "--prune-budget", "0.5", "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "not with --keep-heads" in err and "Traceback" not in err


def test_train_cli_reads_a_corpus_and_its_reagent_flags(tmp_path, capsys):
    from chemaccel.reaction import load_model
    from tests.reaction.conftest import REACTIONS

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = ["reactants\treagents\tproduct\tsource"] + [f"{r}\tCCN(CC)CC\t{p}\tt" for r, p, _ in REACTIONS]
    for split in ("train", "valid"):
        (corpus / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"layers": 1, "hidden_size": 32, "heads": 2, "ff_size": 64, "batch_tokens": 512,
                               "keep_checkpoints": 1, "average_last": 1, "max_tokens": 100}))
    out = tmp_path / "m"
    assert main(["--device", "cpu", "reaction", "train", "--data", str(corpus), "--steps", "1", "--config", str(cfg),
                 "--reagents", "drop", "--min-token-count", "3", "-o", str(out)]) == 0
    model = load_model(out)
    assert (model.config.reagents, model.config.min_token_count) == ("drop", 3)
    sources = [line.replace(" ", "") for line in (tmp_path / "m.work" / "src-train.txt").read_text().splitlines()]
    assert sources[1] == "CC(=O)Cl.NCc1ccccc1"  # the triethylamine typed with it is set aside
    capsys.readouterr()
    assert main(["reaction", "train", "--data", str(corpus), "--min-token-count", "0", "-o", str(tmp_path / "x")]) == 1
    assert "min_token_count must be a positive integer" in capsys.readouterr().err


def test_predict_reads_a_text_file_of_reactions_with_names(tmp_path, capsys):
    """The shipped example file (SMILES, then a name, as in a .smi file) is read as reactions, not refused."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "resources" / "examples"
    out = tmp_path / "out.csv"
    assert main(["--device", "cpu", "reaction", "predict", str(examples / "reactions.txt"), "-m",
                 "uspto-forward-reagents", "-k", "1", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["input"] for r in rows] == ["CC(=O)O.OCC", "CC(=O)Cl.Nc1ccccc1", "O=Cc1ccccc1.NCc1ccccc1"]
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert rows[1]["product_1"] == "CC(=O)Nc1ccccc1"  # acetanilide
    assert rows[2]["product_1"] == "c1ccc(CNCc2ccccc2)cc1"  # the reductive amination's amine


def test_a_line_is_its_first_field():
    from chemaccel import api

    assert api.reaction_of_line("  CCO.CC(=O)O\tethanol + acetic acid\n") == "CCO.CC(=O)O"
    assert api.reaction_of_line("CC>O>CO") == "CC>O>CO"
    assert api.reaction_of_line("   \n") == ""


def test_top1_and_confidence_do_not_depend_on_k():
    """The confidence is calibrated at beam 7 (CONFIDENCE_BEAM): -k 1 and -k 2 decode with that beam too (with
    beam = k, the model shipped before gave 0.08 / 0.93 / 0.72 at beam 5 against 0.11 / 0.93 / 0.95 at beam 2)."""
    from chemaccel import api

    model = api.load_model("uspto-forward-reagents")
    reactions = ["CC(=O)O.OCC", "CC(=O)Cl.Nc1ccccc1", "O=Cc1ccccc1.NCc1ccccc1"]
    by_k = {k: model.predict(reactions, k=k) for k in (1, 2, 5)}
    assert [len(p.candidates) for p in by_k[1]] == [1, 1, 1] and [len(p.candidates) for p in by_k[2]] == [2, 2, 2]
    for k in (1, 2):
        assert [p.candidates[0].smiles for p in by_k[k]] == [p.candidates[0].smiles for p in by_k[5]]
        assert [p.confidence for p in by_k[k]] == [p.confidence for p in by_k[5]]
    assert [round(p.confidence, 2) for p in by_k[5]] == [0.26, 0.96, 0.82]  # the shipped model's (14,000 + 3,000 steps)


def test_predict_without_a_model_uses_the_default_shipped_ones(tmp_path, capsys):
    """``-m`` may be left out: reactions go to uspto-forward-reagents, molecules to qm9-gap-schnet-ff (the models
    for a chemist's own input, as the app's first choice)."""
    from chemaccel import api

    assert api.DEFAULT_MODELS == {"property": "qm9-gap-schnet-ff", "reaction": "uspto-forward-reagents"}
    assert set(api.DEFAULT_MODELS.values()) <= set(api.shipped_names())
    src = tmp_path / "rx.txt"
    src.write_text("CC(=O)Cl.Nc1ccccc1.CCN(CC)CC\n")
    out = tmp_path / "rx.csv"
    assert main(["--device", "cpu", "reaction", "predict", str(src), "-k", "1", "-o", str(out)]) == 0
    row = next(csv.DictReader(out.open()))
    assert row["product_1"] == "CC(=O)Nc1ccccc1" and row["note"] == "reagents set aside: CCN(CC)CC"
    about = json.loads((tmp_path / "rx.csv.resume.json").read_text())["about"]
    assert about["model"].endswith("uspto-forward-reagents")
    mols = tmp_path / "m.smi"
    mols.write_text("CCO ethanol\n")
    out = tmp_path / "m.csv"
    assert main(["--device", "cpu", "property", "predict", str(mols), "-o", str(out)]) == 0
    row = next(csv.DictReader(out.open()))
    assert row["status"] == "ok" and row["gap_uncertainty_eV"] and row["domain"] == "in"  # qm9-gap-schnet-pruned has neither
    about = json.loads((tmp_path / "m.csv.resume.json").read_text())["about"]
    assert about["model"].endswith("qm9-gap-schnet-ff")


def test_a_reaction_typed_on_the_command_line_is_predicted(tmp_path, capsys):
    """``chemaccel reaction predict 'SMILES'``: a chemist's one reaction, no file needed; readable lines on
    stdout (the shipped model's known answer), or the same row as a file's with ``-o``."""
    typed = "CC(=O)Cl.Nc1ccccc1.CCN(CC)CC"
    assert main(["--device", "cpu", "reaction", "predict", typed, "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"  {typed}   (reagents set aside: CCN(CC)CC)"
    assert lines[1] == "    confidence 96% that 1. is right"
    assert lines[2].split() == ["1.", "CC(=O)Nc1ccccc1", "score", "-0.004", "valid"] and lines[3].startswith("    2. ")
    assert len(lines) == 4
    out, src, out_file = tmp_path / "one.csv", tmp_path / "rx.txt", tmp_path / "file.csv"
    src.write_text(typed + "\n")
    assert main(["--device", "cpu", "reaction", "predict", typed, "-k", "2", "-o", str(out)]) == 0
    assert main(["--device", "cpu", "reaction", "predict", str(src), "-k", "2", "-o", str(out_file)]) == 0
    assert out.read_text() == out_file.read_text()  # the same CSV row as the file's
    assert not (tmp_path / "one.csv.resume.json").exists()


def test_a_typed_argument_that_is_neither_file_nor_reaction_is_a_one_line_error(tmp_path, tiny_model, capsys):
    from chemaccel import api

    assert api.typed_reaction("C/C=C/C(=O)Cl.NCC") == "C/C=C/C(=O)Cl.NCC"  # '/' is a bond here, not a folder
    assert api.typed_reaction("-") is None
    long = "CC(=O)Cl." + "C" * 300 + "N"  # longer than a file name may be: still a reaction, not an OSError
    assert api.typed_reaction(long) == long
    src = tmp_path / "CCO"  # a file wins over the SMILES of the same name
    src.write_text("CCO\n")
    assert api.typed_reaction(str(src)) is None
    for arg, reason in (("hello", "hello: no such file, and not a reaction SMILES (not a valid reactant SMILES: "
                                  "cannot parse SMILES 'hello'"),
                        ("missing.txt", "missing.txt: file not found"),
                        (str(tmp_path / "nope"), "nope: file not found"),
                        ("", "'': an empty argument: give a reaction SMILES, a file of reactions, or - for")):
        assert main(["reaction", "predict", arg, "-m", str(tiny_model)]) == 1
        err = capsys.readouterr().err
        assert reason in err and err.count("\n") == 1
    assert main(["reaction", "predict", "CCO.CC(=O)O", "-m", str(tiny_model), "--workers", "2"]) == 1
    assert "--workers is for a file of reactions" in capsys.readouterr().err
