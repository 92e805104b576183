import json

import pytest
import torch

from chemaccel.errors import InputError
from chemaccel.nas.genotype import (
    Genotype, GenotypeError, derive_cell, derive_genotype, load_genotype, save_genotype,
)

OPS = ("none", "skip_connect", "max_pool_3x3", "sep_conv_3x3")


def weights_for(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_derivation_picks_top2_edges_and_ignores_none():
    # node 0: inputs 0, 1; node 1: inputs 0, 1, 2
    w = weights_for([
        [0.1, 0.1, 0.1, 0.7],   # n0 <- 0: sep (0.7)
        [0.9, 0.02, 0.03, 0.05],  # n0 <- 1: "none" dominates; kept anyway (2 inputs), sep (0.05)
        [0.97, 0.01, 0.01, 0.01],  # n1 <- 0: weak (0.01)
        [0.1, 0.6, 0.2, 0.1],   # n1 <- 1: skip (0.6)
        [0.2, 0.1, 0.5, 0.2],   # n1 <- 2: max_pool (0.5)
    ])
    edges, skips = derive_cell(w, OPS, 2)
    assert edges == [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 1), ("max_pool_3x3", 2)]
    assert skips == 1


def test_skip_cap_replaces_the_weakest_skip_with_its_best_other_op():
    w = weights_for([
        [0.0, 0.9, 0.05, 0.05],  # strong skip
        [0.0, 0.6, 0.1, 0.3],    # weakest skip -> sep_conv (0.3)
        [0.0, 0.8, 0.15, 0.05],  # skip
        [0.0, 0.7, 0.2, 0.1],    # skip
        [0.0, 0.1, 0.1, 0.05],
    ])
    capped, before = derive_cell(w, OPS, 2, max_skip=2)
    uncapped, _ = derive_cell(w, OPS, 2, max_skip=None)
    assert before == 4 and sum(op == "skip_connect" for op, _ in uncapped) == 4
    assert sum(op == "skip_connect" for op, _ in capped) == 2
    assert capped[1] == ("sep_conv_3x3", 1) and capped[3] == ("max_pool_3x3", 1)
    assert [i for _, i in capped] == [i for _, i in uncapped]  # same edges, other ops
    zero_cap, _ = derive_cell(w, OPS, 2, max_skip=0)
    assert all(op != "skip_connect" for op, _ in zero_cap)


def test_genotype_json_round_trip_and_skip_counts(tmp_path):
    w = torch.softmax(torch.randn(5, 4, generator=torch.Generator().manual_seed(1)), -1)
    g, before = derive_genotype(w, w.flip(0), OPS, 2)
    assert Genotype.from_json(g.to_json()) == g
    path = save_genotype(tmp_path / "g.json", g, {"note": "test"})
    assert load_genotype(path) == g
    (tmp_path / "bare.json").write_text(json.dumps(g.to_dict()))
    assert load_genotype(tmp_path / "bare.json") == g
    assert g.skip_counts() == {"normal": sum(op == "skip_connect" for op, _ in g.normal),
                               "reduce": sum(op == "skip_connect" for op, _ in g.reduce)}
    assert g.max_skip_per_cell() == max(g.skip_counts().values())


GOOD = {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["max_pool_3x3", 0], ["sep_conv_3x3", 2]],
        "normal_concat": [2, 3],
        "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1]],
        "reduce_concat": [2, 3]}


@pytest.mark.parametrize("change,match", [
    ({"normal": [["conv_9x9", 0], ["skip_connect", 1]]}, "unknown operation 'conv_9x9'"),
    ({"normal": [["sep_conv_3x3", 0], ["skip_connect", 2]]}, "impossible edge from state 2"),
    ({"reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 4], ["max_pool_3x3", 1]]},
     "impossible edge from state 4"),
    ({"normal": [["sep_conv_3x3", 0], ["skip_connect", -1]]}, "impossible edge"),
    ({"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["max_pool_3x3", 0]]}, "must be even"),
    ({"normal": [["sep_conv_3x3", 1], ["skip_connect", 1]], "normal_concat": [2]}, "both edges of node 0"),
    ({"normal": [["none", 0], ["skip_connect", 1]], "normal_concat": [2]}, "'none'"),
    ({"normal": [["sep_conv_3x3", "0"], ["skip_connect", 1]], "normal_concat": [2]}, "integer state"),
    ({"normal_concat": [2, 5]}, "not an intermediate node"),
    ({"normal_concat": []}, "non-empty"),
    ({"normal": []}, "non-empty"),
    ({"extra": 1}, "unknown: \\['extra'\\]"),
])
def test_bad_genotypes_are_clear_errors(change, match):
    data = {**GOOD, **change}
    with pytest.raises(GenotypeError, match=match):
        Genotype.from_dict(data)


def test_bad_genotype_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**GOOD, "normal": [["eval('1')", 0], ["skip_connect", 1]]}))
    with pytest.raises(InputError, match="bad.json.*unknown operation"):
        load_genotype(bad)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read the genotype JSON"):
        load_genotype(tmp_path / "broken.json")
    with pytest.raises(InputError, match="not found"):
        load_genotype(tmp_path / "missing.json")
