"""Keep freed memory in the process while training on CPU (glibc only; elsewhere a no-op).

Every training step allocates and frees the same large tensors: the dense gradient of the 100k x 256 hash table
(~100 MB, twice, once per tower that reads it), its sum, the MLP's activations. glibc serves a block that large with
a fresh `mmap` and unmaps it on free, so the next step pays one page fault per 4 KiB to get it back: zeroing a
fresh 100k x 256 tensor takes ~65 ms here, a reused one ~5 ms. While `reuse_freed_memory` is active, glibc serves
every block from its heap and keeps what is freed there, so the next step reuses it. On the default preset that is
+18% pairs/s for +2-4% peak RSS (docs/benchmarks.md). On exit the defaults come back and the heap is trimmed.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536
KEEP_UP_TO = 1 << 30  # trim threshold while active: give back only what exceeds 1 GiB at the top of the heap


def _glibc() -> ctypes.CDLL | None:
    """The C library this process runs on when it is glibc (it has mallopt and malloc_trim), else None."""
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into the process, the C library's among them
    except OSError:
        return None
    if not all(hasattr(libc, f) for f in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
        return None
    return libc


@contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Within the block, large allocations come from the heap and freed memory stays there for reuse. Yields
    whether it took effect (False: not glibc)."""
    libc = _glibc()
    if libc is None:
        yield False
        return
    applied = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO) == 1
    try:
        yield applied
    finally:
        libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)
