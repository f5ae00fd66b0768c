"""Progress bars draw on a terminal only: a log (any stream that is not a TTY) gets no carriage-return
debris, unless OMNISAGE_PROGRESS=1 forces bars; `--no-progress` and OMNISAGE_PROGRESS=0 silence them all."""

from __future__ import annotations

import io

import pytest

from omnisage import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drawn(stream: io.StringIO, **kwargs) -> str:
    for _ in progress.tqdm(range(3), file=stream, mininterval=0, **kwargs):
        pass
    return stream.getvalue()


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(progress.FORCE_ENV, raising=False)
    monkeypatch.setattr(progress, "ENABLED", True)


def test_a_terminal_gets_a_bar() -> None:
    assert "3/3" in drawn(Terminal())


def test_a_log_gets_nothing() -> None:
    assert drawn(io.StringIO()) == ""


def test_forced_bars_reach_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(progress.FORCE_ENV, "1")
    assert "3/3" in drawn(io.StringIO())


@pytest.mark.parametrize("how", ["flag", "env", "call site"])
def test_every_switch_silences_a_terminal(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "flag":
        monkeypatch.setattr(progress, "ENABLED", False)  # what --no-progress does
    if how == "env":
        monkeypatch.setenv(progress.FORCE_ENV, "0")
    assert drawn(Terminal(), disable=how == "call site") == ""


def test_a_stage_writes_no_carriage_returns_to_captured_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    from omnisage.text.vocab import Vocabulary

    Vocabulary.build(["red sofa", "blue sofa"] * 50, min_count=1, progress=True)  # its bar goes to stderr
    assert "\r" not in capfd.readouterr().err
