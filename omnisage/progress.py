"""Progress bars: tqdm, drawn only where someone watches them.

Stages call `tqdm` from here instead of from the library, so one switch governs every bar of a run (the
evaluation's ranking and encoding bars included), whatever a call site passes as its own `disable`:
`--no-progress` turns them all off, and a bar whose stream is not a terminal (a log file, a pipe, CI) is off
too, since tqdm redraws with carriage returns that turn a log into debris. `OMNISAGE_PROGRESS=1` forces bars
on such a stream, `OMNISAGE_PROGRESS=0` turns them off everywhere.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from tqdm import tqdm as _tqdm

ENABLED = True  # `omnisage ... --no-progress` sets this to False before the stage runs
FORCE_ENV = "OMNISAGE_PROGRESS"


def shown(stream: IO[str] | None = None) -> bool:
    """Whether a bar drawn on `stream` (default: stderr, tqdm's) would be shown."""
    forced = os.environ.get(FORCE_ENV, "").strip()
    if not ENABLED or forced == "0":
        return False
    if forced == "1":
        return True
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def tqdm(*args: Any, disable: bool | None = False, file: IO[str] | None = None, **kwargs: Any) -> _tqdm:
    return _tqdm(*args, disable=bool(disable) or not shown(file), file=file, **kwargs)
