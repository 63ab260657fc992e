"""User code in a module of its own that blocks the loop (for tests/test_slow_sampler.py)."""

from __future__ import annotations

import time


def block_in_helper(seconds: float) -> None:
    """Block the calling thread, as a synchronous helper of an application would."""
    time.sleep(seconds)  # blocks: helper
