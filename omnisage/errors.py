"""Errors that the CLI reports as one line (exit code 2) instead of a traceback."""

from __future__ import annotations


class OmniSageError(Exception):
    """A problem with the user's input or environment, reported as one clear line."""


class DataError(OmniSageError):
    """Bad input data, located by file, row (1-based data row) and column where known."""

    def __init__(
        self, message: str, *, path: str | None = None, row: int | None = None, column: str | None = None
    ):
        self.path, self.row, self.column, self.detail = path, row, column, message
        where = ", ".join(
            ([f"row {row}"] if row is not None else []) + ([f"column '{column}'"] if column else [])
        )
        parts = [p for p in (path, where, message) if p]
        super().__init__(": ".join(parts))


class MissingExtraError(OmniSageError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str):
        super().__init__(f"this feature needs '{package}': install it with  pip install 'omnisage[{extra}]'")


class OutputError(OmniSageError):
    """An output could not be written: a read-only or missing folder, a file where a folder is expected, a full
    disk. Raised by the atomic writers (omnisage/atomic.py), which every stage writes through."""

    def __init__(self, path: object, exc: Exception):
        self.path = str(path)
        if isinstance(exc, OSError):
            self.reason = describe_os_error(exc, with_path=False)
        else:  # a library's own error for a failed write (safetensors: "Error while serializing: IoError(...)")
            self.reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        super().__init__(f"cannot write {path}: {self.reason}")


def describe_os_error(exc: OSError, *, with_path: bool = True) -> str:
    """One line for an OSError: the path(s) it names, then the reason ("No space left on device")."""
    reason = exc.strerror or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None] if with_path else []
    return ": ".join([" -> ".join(paths), reason] if paths else [reason])
