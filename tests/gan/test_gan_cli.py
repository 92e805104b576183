"""``chemaccel gan train|sample|evaluate``."""

import json

import pytest

from chemaccel.cli import main


def test_train_evaluate_sample_toy(tmp_path, capsys):
    out = tmp_path / "ring"
    args = ["--device", "cpu", "gan", "train", "--data", "ring8", "-k", "2", "--steps", "4", "--gen-hidden", "8",
            "--gen-layers", "2", "--disc-hidden", "8", "--disc-layers", "1", "--n-train", "300", "--eval-samples",
            "100", "-o", str(out)]
    assert main(args) == 0
    assert (out / "config.json").is_file()
    capsys.readouterr()
    assert main(["gan", "evaluate", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"n_modes_captured", "high_quality", "reverse_kl"} <= set(data)
    assert main(["gan", "sample", str(out), "-n", "7", "-o", str(tmp_path / "s.csv")]) == 0
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 8


def test_train_sample_molecules(tmp_path, capsys, smiles20):
    smi = tmp_path / "mols.smi"
    smi.write_text("\n".join(smiles20) + "\n")
    out = tmp_path / "mol"
    assert main(["--device", "cpu", "gan", "train", "--data", "qm9", "--input", str(smi), "-k", "2", "--steps", "3",
                 "--batch-size", "10", "--gen-hidden", "8", "--disc-hidden", "8", "--eval-samples", "30",
                 "--diversity-weight", "0.01", "--graph-sampling", "argmax", "--connectivity-weight", "0.5",
                 "--novelty-weight", "0.25", "--gumbel-tau", "1.5", "--valence-weight", "0.5",
                 "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"validity", "uniqueness", "novelty"} <= set(data)
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["diversity_weight"] == 0.01 and saved["graph_sampling"] == "argmax"
    assert saved["connectivity_weight"] == 0.5 and saved["gumbel_tau"] == 1.5
    assert saved["novelty_weight"] == 0.25 and saved["valence_weight"] == 0.5
    for name in ("m.sdf", "m.smi"):
        assert main(["gan", "sample", str(out), "-n", "20", "-o", str(tmp_path / name)]) == 0
    assert main(["gan", "evaluate", str(out), "--json", "-n", "20"]) == 0
    drawn = tmp_path / "drawn"
    assert main(["--device", "cpu", "gan", "train", "--data", "qm9", "--input", str(smi), "-k", "2", "--steps", "2",
                 "--batch-size", "10", "--gen-hidden", "8", "--disc-hidden", "8", "--eval-samples", "30",
                 "--sample-temperature", "0.7", "--decode-temperature", "0.5", "--valence-mask", "--connect-fragments",
                 "-o", str(drawn)]) == 0
    saved = json.loads((drawn / "config.json").read_text())["config"]
    assert (saved["sample_temperature"], saved["decode_temperature"], saved["valence_mask"]) == (0.7, 0.5, True)
    assert saved["connect_fragments"] is True
    capsys.readouterr()
    assert main(["gan", "evaluate", str(drawn), "-n", "20", "--no-valence-mask", "--connect-fragments"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("chemaccel: error:") and "add --valence-mask" in err and "\n" not in err


@pytest.mark.parametrize("extra,match", [
    (["--data", "ring8", "-k", "0"], "at least 1"),
    (["--data", "vectors"], "needs --input"),
    (["--data", "ring8", "--private-layers", "0", "-k", "3"], "private_layers"),
])
def test_bad_input_is_one_line(capsys, tmp_path, extra, match):
    assert main(["--device", "cpu", "gan", "train", *extra, "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err and err.startswith("chemaccel: error:")


def test_too_small_and_missing_model(capsys, tmp_path):
    vec = tmp_path / "v.csv"
    vec.write_text("1,2\n3,4\n")
    out = str(tmp_path / "o")
    assert main(["--device", "cpu", "gan", "train", "--data", "vectors", "--input", str(vec), "-o", out]) == 1
    assert "too small" in capsys.readouterr().err
    assert main(["gan", "evaluate", str(tmp_path / "nope")]) == 1
    assert "no such model folder" in capsys.readouterr().err


def test_sample_unique_molecules_and_evaluate_against_a_reference(tmp_path, capsys):
    from rdkit import Chem

    out = tmp_path / "u.smi"
    assert main(["gan", "sample", "gan-qm9", "-n", "150", "--unique", "-o", str(out)]) == 0
    rows = out.read_text().split()
    assert len(rows) == 150 == len(set(rows))
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in rows)  # canonical, valid
    assert "wrote 150 distinct valid molecules" in capsys.readouterr().out
    # a budget the model cannot meet: what was found is written, the exit status says it fell short
    assert main(["gan", "sample", "gan-qm9", "-n", "5000", "--unique", "--max-samples", "300",
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    found = len(out.read_text().split())
    assert f"made only {found:,} distinct valid molecules in 300 samples, not the 5,000 asked for" in err
    assert "\n" not in err and err.startswith("chemaccel: error:") and 0 < found < 300
    assert main(["gan", "sample", "gan-ring8", "-n", "5", "--unique", "-o", str(tmp_path / "r.csv")]) == 1
    assert "--unique applies to molecule models" in capsys.readouterr().err

    ref = tmp_path / "ref.smi"
    ref.write_text("smiles\n" + "\n".join(rows[:100]) + "\n")
    assert main(["gan", "evaluate", "gan-qm9", "-n", "1000", "--reference", str(ref), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_reference"] == 100 and data["uniqueness_1000"] == data["uniqueness"]
    assert {"internal_diversity", "fcd", "w_qed", "w_logp", "w_sa", "w_weight", "w_heavy_atoms"} <= set(data)
    assert main(["gan", "evaluate", "gan-qm9", "--reference", str(tmp_path / "none.smi")]) == 1
    assert "reference file not found" in capsys.readouterr().err


def test_temperature_trades_validity_for_distinct_molecules(tmp_path, capsys):
    figures = {}
    for t in ("0", "0.7"):
        assert main(["gan", "evaluate", "gan-qm9", "-n", "1000", "--temperature", t, "--no-valence-mask",
                     "--json"]) == 0
        figures[t] = json.loads(capsys.readouterr().out)
    assert figures["0"]["validity"] > figures["0.7"]["validity"]
    assert figures["0"]["uniqueness"] < figures["0.7"]["uniqueness"]
    # the valence masks raise validity at the same temperature
    assert main(["gan", "evaluate", "gan-qm9", "-n", "1000", "--temperature", "0.7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["validity"] > figures["0.7"]["validity"] + 0.2
    # the saved decode settings (T 0.65, masks on) are the default
    assert main(["gan", "evaluate", "gan-qm9", "-n", "1000", "--temperature", "0.65", "--valence-mask",
                 "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert main(["gan", "evaluate", "gan-qm9", "-n", "1000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_unique"] == saved["n_unique"]
    assert main(["gan", "sample", "gan-qm9", "-n", "5", "--temperature", "-1", "-o", str(tmp_path / "m.smi")]) == 1
    assert "--temperature must be a finite number >= 0" in capsys.readouterr().err
    assert main(["gan", "sample", "gan-ring8", "-n", "5", "--temperature", "1", "-o", str(tmp_path / "r.csv")]) == 1
    assert "--temperature applies to molecule models" in capsys.readouterr().err
