"""A fast subset of the parser fuzzing (scripts/fuzz_parsers.py runs 10,000 cases per parser)."""

import pytest

from tests.fuzzing import PARSERS, run_parser_fuzz


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_no_foreign_exception_escapes(name, tmp_path):
    stats = run_parser_fuzz(name, tmp_path, cases=60, seed=1)
    assert stats["cases"] == 60
    assert stats["escaped"] == [], stats["escaped"][:3]
