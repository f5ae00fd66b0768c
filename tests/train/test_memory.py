import platform

import pytest
import torch

from omnisage.train import memory
from omnisage.train.memory import reuse_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_on_glibc_the_setting_takes_effect_and_large_blocks_still_work():
    with reuse_freed_memory() as applied:
        assert applied
        for _ in range(3):  # freed and allocated again, now from the heap
            block = torch.ones(4096, 1024)
            assert float(block.sum()) == 4096 * 1024
            del block
    after = torch.zeros(4096, 1024)  # the defaults are back
    assert float(after.sum()) == 0.0


def test_without_glibc_it_is_a_no_op(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    with reuse_freed_memory() as applied:
        assert not applied
