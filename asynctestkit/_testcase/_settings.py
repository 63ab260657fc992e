"""The schedule settings: environment variables and their checks.

Read by `_explore` each time a clocked test runs; a bad value is that test's
error, with what the setting needs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__unittest = True

__all__ = (
    "CHECK_ENV", "CHOICES_ENV", "EXPLORE_ENV", "JITTER_ENV", "REPLAY_ENV", "SEED_ENV", "check_explore",
    "check_seed",
    "env_choices", "env_int", "jitter", "seed_env",
)

SEED_ENV = "ASYNCTESTKIT_SEED"
EXPLORE_ENV = "ASYNCTESTKIT_EXPLORE"
CHECK_ENV = "ASYNCTESTKIT_CHECK_DETERMINISM"
CHOICES_ENV = "ASYNCTESTKIT_CHOICES"
JITTER_ENV = "ASYNCTESTKIT_JITTER"
# The command a replay line names in place of `python -m unittest`; python -m
# asynctestkit sets it for itself and its workers.
REPLAY_ENV = "ASYNCTESTKIT_REPLAY_PREFIX"

def env_choices() -> frozenset[int] | None:
    """The choice points ``ASYNCTESTKIT_CHOICES`` keeps (None: unset, keep all).

    Raises:
        ValueError: not a comma-separated list of non-negative ints.
    """
    text = os.environ.get(CHOICES_ENV, "").strip()
    if not text:
        return None
    try:
        points = frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        points = frozenset({-1})
    if any(point < 0 for point in points):
        raise ValueError(
            f"{CHOICES_ENV} needs the choice points to keep, non-negative ints separated by commas, "
            f"as a failure's replay line prints them; got {text!r}"
        )
    return points



def check_seed(value: object, where: str) -> int | None:
    """Return a schedule seed (an int >= 0, or None) or raise TypeError naming ``where``."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise TypeError(f"{where} needs a non-negative int seed, or None for the default order; got {value!r}")


def check_explore(value: object, where: str) -> int:
    """Return a number of seeds to explore (an int >= 0) or raise TypeError naming ``where``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise TypeError(f"{where} needs a non-negative int, the number of seeds to explore; got {value!r}")


def env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"{name} needs a non-negative integer; got {text!r}. Unset it or set it to a number, "
            f"e.g. {name}=7"
        )
    return value


def seed_env() -> int | None:
    return env_int(SEED_ENV)


def jitter(option: Callable[[str], Any]) -> Any:
    text = os.environ.get(JITTER_ENV, "").strip()
    if not text:
        return option("schedule_jitter")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value != float("inf")):
        raise ValueError(
            f"{JITTER_ENV} needs a finite, non-negative fraction of a timer's delay (0: timers never "
            f"fire late); got {text!r}"
        )
    return value
