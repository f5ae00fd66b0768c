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
