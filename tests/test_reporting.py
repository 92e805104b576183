import io
import sys
import logging

from chemaccel.reporting import LoggingReporter, NullReporter, RecordingReporter, Reporter, StopFlag, TqdmReporter


def test_all_reporters_satisfy_the_protocol():
    for r in (NullReporter(), TqdmReporter(file=io.StringIO()), LoggingReporter(), RecordingReporter()):
        assert isinstance(r, Reporter)


def test_recording_reporter_records_and_cancels():
    r = RecordingReporter(stop_after=2)
    r.on_start("job", 5)
    r.on_progress(1, 5, {"loss": 1.0})
    assert not r.should_stop()
    r.on_progress(2, 5, {"loss": 0.5})
    assert r.should_stop()
    r.on_message("hello")
    assert r.starts == [("job", 5)] and r.progress[1] == (2, 5, {"loss": 0.5}) and r.messages == ["hello"]


def test_shared_stop_flag_cancels_from_outside():
    flag = StopFlag()
    r = TqdmReporter(stop=flag, file=io.StringIO())
    assert not r.should_stop()
    flag.set()
    assert r.should_stop()


def test_tqdm_reporter_writes_bar_and_metrics():
    out = io.StringIO()
    r = TqdmReporter(file=out, disable=False)
    r.on_start("train", 4)
    r.on_progress(2, 4, {"loss": 0.123456})
    r.on_message("checkpoint written")
    r.close()
    text = out.getvalue()
    assert "train" in text and "2/4" in text and "loss=0.1235" in text and "checkpoint written" in text


def test_logging_reporter_every_n(caplog):
    r = LoggingReporter(every=2)
    with caplog.at_level(logging.INFO, logger="chemaccel"):
        r.on_start("fit", 4)
        for step in range(1, 5):
            r.on_progress(step, 4, {"mse": 0.5})
    steps = [m for m in caplog.messages if m.startswith("step")]
    assert steps == ["step 2/4 mse=0.5", "step 4/4 mse=0.5"]


def test_silent_reporter_stops_with_the_reporter_it_wraps_and_says_nothing(capsys):
    from chemaccel.reporting import SilentReporter, TqdmReporter

    inner = TqdmReporter(file=sys.stderr)
    quiet = SilentReporter(inner)
    quiet.on_start("train", 3)
    quiet.on_progress(1, 3, {"loss": 1.0})
    quiet.on_message("hello")
    assert capsys.readouterr().err == ""
    assert not quiet.should_stop()
    inner.cancel()
    assert quiet.should_stop()
    own = SilentReporter(TqdmReporter(file=sys.stderr))
    own.cancel()
    assert own.should_stop()
