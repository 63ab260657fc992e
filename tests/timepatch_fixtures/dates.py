"""Code that reads the wall clock through datetime, in the forms patch_time covers."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from datetime import date
from datetime import datetime as DT


def naive_now() -> DT:
    """Return datetime.now() through the `from datetime import datetime` alias."""
    return DT.now()


def aware_now() -> datetime.datetime:
    """Return an aware now() through the `import datetime` module name."""
    return datetime.datetime.now(datetime.timezone.utc)


def today() -> date:
    """Return date.today() through the `from datetime import date` alias."""
    return date.today()


def datetime_today() -> DT:
    """Return datetime.today() through the alias."""
    return DT.today()


def utc_now() -> DT:
    """Return the deprecated (3.12+) datetime.utcnow() through the alias."""
    return DT.utcnow()


def from_default(now: Callable[[], DT] = DT.now) -> DT:
    """Return now() read from a default argument."""
    return now()


__all__ = (
    "DT",
    "aware_now",
    "date",
    "datetime",
    "datetime_today",
    "from_default",
    "naive_now",
    "today",
    "utc_now",
)
