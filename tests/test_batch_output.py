"""The crash-safe, resumable CSV output of batch prediction (chemaccel.batch_output)."""

from __future__ import annotations

import csv
import json

import pytest

from chemaccel.batch_output import ResumableCsv, ResumeError, encode_rows, scan_csv, sidecar_path
from chemaccel.errors import ChemAccelError

HEADER = ["index", "name", "value", "status"]
FP = {"engine": "test", "model_sha256": "abc", "input": {"path": "/in.smi", "size": 10, "mtime_ns": 1}, "chunk": 2}


def rows(start: int, stop: int) -> list[list[object]]:
    return [[i, f"mol {i}", f"{i / 3:.6f}", "ok"] for i in range(start, stop)]


def write(path, n: int, chunk: int = 2, finish: bool = True, **kw) -> ResumableCsv:
    out = ResumableCsv(path, HEADER, FP, align=chunk, **kw)
    with out:
        for start in range(out.rows_done + 1, n + 1, chunk):
            out.write_rows(rows(start, min(start + chunk, n + 1)))
        if finish:
            out.finish()
    return out


def test_fresh_output_has_header_rows_and_a_complete_sidecar(tmp_path):
    path = tmp_path / "out.csv"
    out = write(path, 5)
    assert out.rows_done == 5
    assert list(csv.reader(path.open(newline=""))) == [HEADER] + [[str(c) for c in r] for r in rows(1, 6)]
    state = json.loads(sidecar_path(path).read_text())
    assert state["complete"] is True and state["rows"] == 5 and state["fingerprint"] == FP
    again = ResumableCsv(path, HEADER, FP, resume=True, align=2)
    assert again.complete and again.rows_done == 5


def test_partial_last_line_is_cut_and_rows_after_the_last_whole_chunk_dropped(tmp_path):
    path = tmp_path / "out.csv"
    write(path, 5, finish=False)  # chunks 1-2, 3-4, 5: as if killed before finishing
    whole = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b"6,mol 6,2.0")  # a kill in the middle of a write
    out = ResumableCsv(path, HEADER, FP, resume=True, align=2)
    assert path.read_bytes().endswith(b"2.0")  # inspecting changes nothing
    assert (out.rows_done, out.dropped_rows, out.complete) == (4, 1, False)
    assert "resuming after 4 rows" in out.resume_note()
    with out:
        out.write_rows(rows(5, 7))
        out.finish()
    expected = write(tmp_path / "ref.csv", 6)
    assert expected.rows_done == 6 and path.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert len(whole) < path.stat().st_size


def test_killed_before_the_header_was_written_starts_again(tmp_path):
    path = tmp_path / "out.csv"
    write(path, 2, finish=False)
    path.write_bytes(b"index,na")
    out = write(path, 4, resume=True)
    write(tmp_path / "ref.csv", 4)
    assert out.rows_done == 4 and path.read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_header_mismatch_is_a_one_line_error(tmp_path):
    path = tmp_path / "out.csv"
    write(path, 4, finish=False)
    with pytest.raises(ResumeError) as err:
        ResumableCsv(path, HEADER[:-1] + ["note"], FP, resume=True, align=2)
    text = str(err.value)
    assert "header" in text and "\n" not in text and "without --resume" in text


@pytest.mark.parametrize("change", [{"chunk": 3}, {"model_sha256": "other"},
                                    {"input": {"path": "/in.smi", "size": 11, "mtime_ns": 1}}])
def test_a_different_run_is_refused_and_the_output_left_alone(tmp_path, change):
    path = tmp_path / "out.csv"
    write(path, 4, finish=False)
    before = path.read_bytes()
    with pytest.raises(ResumeError) as err:
        ResumableCsv(path, HEADER, {**FP, **change}, resume=True, align=2)
    (key,) = change
    assert f"{key}: was" in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, ChemAccelError) and path.read_bytes() == before


def test_missing_or_foreign_sidecar_is_refused(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("index,name,value,status\r\n1,a,1,ok\r\n")
    with pytest.raises(ResumeError, match="resume.json is missing"):
        ResumableCsv(path, HEADER, FP, resume=True)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ResumeError, match="unreadable"):
        ResumableCsv(path, HEADER, FP, resume=True)
    sidecar_path(path).write_text('{"format": "something else"}')
    with pytest.raises(ResumeError, match="not a chemaccel resume file"):
        ResumableCsv(path, HEADER, FP, resume=True)


def test_resume_without_an_output_starts_fresh_and_no_resume_replaces(tmp_path):
    path = tmp_path / "sub" / "out.csv"
    assert write(path, 3, resume=True).rows_done == 3
    path.write_text("something else entirely\n")
    sidecar_path(path).unlink()
    out = write(path, 2)  # without --resume: replaced, whatever was there
    write(tmp_path / "ref.csv", 2)
    assert out.rows_done == 2 and path.read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_row_counting_handles_quoted_commas_quotes_and_newlines(tmp_path):
    path = tmp_path / "q.csv"
    data = [["a", "b"], ["1", 'x, "quoted"'], ["2", "two\nlines"], ["3", "plain"], ["4", '"\n"']]
    path.write_bytes(encode_rows(data) + b'5,"open\nquote')
    header, n, aligned, aligned_end, end = scan_csv(path, align=3)
    assert header == encode_rows(data[:1]) and n == 4 and aligned == 3
    assert end == len(encode_rows(data)) and aligned_end == len(encode_rows(data[:4]))
    assert scan_csv(path)[2] == 4


def test_sidecar_mismatch_checked_before_a_complete_output_is_accepted(tmp_path):
    path = tmp_path / "out.csv"
    write(path, 4)
    with pytest.raises(ResumeError, match="chunk: was 2, now 4"):
        ResumableCsv(path, HEADER, {**FP, "chunk": 4}, resume=True, align=4)
