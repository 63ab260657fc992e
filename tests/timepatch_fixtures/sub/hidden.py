"""A submodule the package attribute of the same name hides."""

from __future__ import annotations

import time
from collections.abc import Callable


def hidden(timer: Callable[[], float] = time.monotonic) -> float:
    """Return the time from a default argument."""
    return timer()
