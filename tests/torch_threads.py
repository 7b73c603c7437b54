"""``torch_threads(n)``: run a block with ``n`` torch threads, restoring the count after.

Sionna's reference blocks run on one thread in the tests: on a loaded 2-core machine torch's
OpenMP pool otherwise oversubscribes the cores and calls slow down 10-50x at random.
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
