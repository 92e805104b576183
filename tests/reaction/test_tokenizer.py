import pytest

from chemaccel.chem.reactions import detokenize, tokenize



@pytest.mark.parametrize("smiles,tokens", [
    ("CC(=O)Cl", ["C", "C", "(", "=", "O", ")", "Cl"]),
    ("c1ccccc1Br", ["c", "1", "c", "c", "c", "c", "c", "1", "Br"]),
    ("[NH4+].[Cl-]", ["[NH4+]", ".", "[Cl-]"]),
    ("C%12CC%12", ["C", "%12", "C", "C", "%12"]),
    ("C/C=C\\C", ["C", "/", "C", "=", "C", "\\", "C"]),
    ("CC>>CO", ["C", "C", ">", ">", "C", "O"]),
    ("[C@@H](N)(O)S", ["[C@@H]", "(", "N", ")", "(", "O", ")", "S"]),
])
def test_molecular_transformer_tokens(smiles, tokens):
    assert tokenize(smiles) == tokens
    assert detokenize(tokens) == smiles
    assert detokenize(" ".join(tokens)) == smiles


@pytest.mark.parametrize("bad", ["", "CC x", "CCx", "C]", "CC\n"])
def test_untokenizable_text_is_rejected_not_changed(bad):
    with pytest.raises(ValueError) as exc:
        tokenize(bad)
    assert "\n" not in str(exc.value)


def test_lossless_over_all_of_uspto50k(shared_data):
    n = 0
    for split in ("train", "valid", "test"):
        for name in (f"src-{split}.txt", f"tgt-{split}.txt"):
            with open(shared_data / "uspto50k" / name, encoding="utf-8") as fh:
                for line in fh:
                    file_tokens = line.split()
                    if file_tokens and file_tokens[0].startswith("<RX_"):
                        file_tokens = file_tokens[1:]
                    smiles = "".join(file_tokens)
                    tokens = tokenize(smiles)
                    assert detokenize(tokens) == smiles
                    # (the files split bracket atoms into characters, "[ C @ H ]"; we keep them whole)
                    n += 1
    assert n == 2 * (40029 + 5004 + 5004)
