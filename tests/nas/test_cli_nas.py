import json

import pytest

from chemaccel.cli import main

TINY_SEARCH = ["--layers", "3", "--channels", "2", "--nodes", "2", "--epochs", "1", "--batch-size", "16"]


def test_search_retrain_evaluate_json(tiny_idx, tmp_path, capsys):
    g = tmp_path / "g.json"
    assert main(["--device", "cpu", "nas", "search", "--data", str(tiny_idx), *TINY_SEARCH, "--distill",
                 "--teacher-epochs", "1", "-o", str(g), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    saved = json.loads(g.read_text())
    assert saved["format"] == "chemaccel-genotype" and saved["genotype"] == out["genotype"]
    assert saved["search"]["config"]["feature_weight"] == 1.0 and max(out["skip_per_cell"].values()) <= 2
    model = tmp_path / "model"
    assert main(["--device", "cpu", "nas", "retrain", "--genotype", str(g), "--data", str(tiny_idx),
                 "--layers", "3", "--channels", "2", "--epochs", "1", "--batch-size", "16", "-o", str(model)]) == 0
    assert "saved" in capsys.readouterr().out
    assert main(["--device", "cpu", "nas", "evaluate", str(model), "--data", str(tiny_idx), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert 0.0 <= stats["test_accuracy"] <= 1.0 and stats["samples"] == 24
    assert stats["params"] > 0 and stats["max_skip_per_cell"] <= 2
    recorded = json.loads((model / "config.json").read_text())["metrics"]["test_accuracy"]
    assert stats["test_accuracy"] == pytest.approx(recorded)
    assert main(["--device", "cpu", "nas", "evaluate", str(model)]) == 0
    assert "parameters" in capsys.readouterr().out


def one_line_error(capsys, argv, match):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("chemaccel: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert match in err, err


def test_bad_input_is_one_line(tiny_idx, tmp_path, capsys):
    base = ["--device", "cpu", "nas", "search", "--data", str(tiny_idx), "-o", str(tmp_path / "g.json")]
    one_line_error(capsys, base + ["--ops", ","], "empty")
    one_line_error(capsys, base + ["--ops", "sep_conv_3x3,laser"], "unknown cell operation 'laser'")
    one_line_error(capsys, base + ["--batch-size", "40"], "too small for its split")
    one_line_error(capsys, base[:-2] + ["--limit-train", "10", "-o", str(tmp_path / "g.json")],
                   "too small for its split")
    one_line_error(capsys, ["nas", "search", "--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "g.json")],
                   "not found")
    bad = tmp_path / "bad.json"
    for genotype, match in (({"normal": [["teleport", 0], ["skip_connect", 1]], "normal_concat": [2],
                              "reduce": [["max_pool_3x3", 0], ["skip_connect", 1]], "reduce_concat": [2]},
                             "unknown operation 'teleport'"),
                            ({"normal": [["sep_conv_3x3", 0], ["skip_connect", 3]], "normal_concat": [2],
                              "reduce": [["max_pool_3x3", 0], ["skip_connect", 1]], "reduce_concat": [2]},
                             "impossible edge from state 3")):
        bad.write_text(json.dumps(genotype))
        one_line_error(capsys, ["nas", "retrain", "--genotype", str(bad), "--data", str(tiny_idx),
                                "-o", str(tmp_path / "m")], match)
    one_line_error(capsys, ["nas", "evaluate", str(tmp_path / "missing"), "--json"], "no such model folder")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epoch": 3}))
    one_line_error(capsys, base + ["--config", str(cfg)], "unknown nas search config key(s) ['epoch']")


def test_help_explains_the_verbs(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["nas", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("search", "retrain", "evaluate", "genotype", "examples:", "test split"):
        assert word in text
    with pytest.raises(SystemExit):
        main(["nas", "evaluate", "--help"])
    assert "max_skip_per_cell" in capsys.readouterr().out
