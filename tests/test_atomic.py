"""omnisage/atomic.py: an output appears whole under its name or not at all, with a plain create's permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from omnisage.atomic import atomic_folder, atomic_path, write_atomic, write_text
from omnisage.errors import OutputError


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_finished_write_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.txt"  # the parent is created
    write_text(path, "old\n")
    write_atomic(path, lambda fh: fh.write(b"new\n"))
    assert path.read_text() == "new\n"
    assert _listing(path.parent) == ["out.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's owner-only 0o600


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    write_text(path, "whole")

    def half(fh) -> None:
        fh.write(b"ha")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed"):
        write_atomic(path, half)
    with pytest.raises(RuntimeError, match="killed"), atomic_path(tmp_path / "new.bin") as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "whole"
    assert _listing(tmp_path) == ["out.bin"]


def test_a_folder_appears_whole_and_replaces_an_older_one(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists()  # nothing under the name until the block ends
    with atomic_folder(target) as tmp:
        (tmp / "b.txt").write_text("2")
    assert _listing(target) == ["b.txt"]
    with pytest.raises(ValueError), atomic_folder(target) as tmp:
        (tmp / "c.txt").write_text("3")
        raise ValueError("failed")
    assert _listing(target) == ["b.txt"]
    assert _listing(tmp_path) == ["bundle"]


def test_an_output_that_cannot_be_written_is_one_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    for target in (tmp_path / "a-file" / "out.txt", Path("/proc/omnisage-test/out.txt")):
        with pytest.raises(OutputError, match=rf"^cannot write {target}: "):
            write_text(target, "x")
        folder = target.parent / "folder"
        with pytest.raises(OutputError, match=rf"^cannot write {folder}: "), atomic_folder(folder):
            pass


def test_a_full_disk_mid_write_is_one_error_naming_the_output(tmp_path: Path) -> None:
    def disk_full(fh) -> None:  # as pyarrow reports it: an OSError without a file name
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    with pytest.raises(
        OutputError, match=r"cannot write .*out\.parquet: Error writing bytes .* No space left"
    ):
        write_atomic(tmp_path / "out.parquet", disk_full)
    assert _listing(tmp_path) == []


def test_an_input_error_inside_a_write_keeps_its_own_path(tmp_path: Path) -> None:
    missing = tmp_path.parent / "elsewhere" / "input.csv"
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "out" / "x.txt"):
        missing.read_text()
