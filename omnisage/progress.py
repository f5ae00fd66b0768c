"""Progress bars: tqdm, switched off for a whole run by the command line's `--no-progress`.

Stages call `tqdm` from here instead of from the library, so one switch silences every bar of a run (the
evaluation's ranking and encoding bars included), whatever a call site passes as its own `disable`.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm as _tqdm

ENABLED = True  # `omnisage ... --no-progress` sets this to False before the stage runs


def tqdm(*args: Any, disable: bool | None = False, **kwargs: Any) -> _tqdm:
    return _tqdm(*args, disable=True if not ENABLED else disable, **kwargs)
