"""Atomic writes: every output file or folder appears whole under its name, or not at all.

Each writer fills a temp sibling and renames it into place, so a job killed mid-write leaves no half file that a
rerun (or a server's reload) would trust. Every stage writes through these helpers, so they are also where an
output that cannot be written (read-only folder, full disk, a file where a folder should be) becomes one clear
`OutputError` naming it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from omnisage.errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# What a plain create gives (umask applied); mkstemp's files and mkdtemp's folders are owner-only.
_FILE_MODE, _DIR_MODE = 0o666 & ~_umask(), 0o777 & ~_umask()


def _concerns(filename: object, target: Path) -> bool:
    """Whether an OSError's file is the output `target`: the target itself, a folder on its way, or a file in its
    folder (its temp sibling, a temp folder's contents); an error without a file name counts (a full disk as the
    Parquet writer reports it)."""
    if filename is None:
        return True
    name = Path(os.fsdecode(filename)) if isinstance(filename, str | bytes | os.PathLike) else None
    return name is not None and (name == target or name in target.parents or target.parent in name.parents)


@contextlib.contextmanager
def _output(target: Path) -> Iterator[None]:
    """OSErrors while writing `target` become one `OutputError` naming it; others (an input's) pass unchanged."""
    try:
        yield
    except OSError as exc:
        if not _concerns(exc.filename, target):
            raise
        raise OutputError(target, exc) from None


def make_folder(directory: str | Path) -> Path:
    """`directory` and its parents, made if missing (an output folder that files are then written into)."""
    directory = Path(directory)
    with _output(directory):
        directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temp path beside `path` for a writer that takes a file name; renamed onto `path` when the block ends
    cleanly, removed when it raises."""
    path = Path(path)
    with _output(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write` on a binary file handle, atomically: `path` is the whole output or untouched."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        write(fh)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """A UTF-8 text file with "\\n" line ends, written atomically."""
    return write_atomic(path, lambda fh: fh.write(text.encode("utf-8")))


@contextlib.contextmanager
def atomic_folder(directory: str | Path) -> Iterator[Path]:
    """A temp folder beside `directory` to fill; when the block ends cleanly it takes `directory`'s name (an older
    folder there is moved aside first, then deleted), when it raises it is removed."""
    directory = Path(directory)
    with _output(directory):
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
        try:
            yield tmp
            os.chmod(tmp, _DIR_MODE)
            if directory.exists():
                old = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(directory, old)
                os.replace(tmp, directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
