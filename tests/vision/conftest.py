"""Vision tests train small networks on CPU: one intra-op thread each.

On a shared 2-core machine two threads contend with every other process and run slower
than one; the thread count is restored after each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
