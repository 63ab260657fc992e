"""The patched wall clock as ``datetime`` sees it, and the ``wall=`` option.

``datetime.datetime`` and ``datetime.date`` are C types whose ``now()`` and
``today()`` cannot be patched in place, so names in target modules that are
bound to them (or to the ``datetime`` module) are rebound to the subclasses
and the module proxy defined here, whose ``now()``, ``utcnow()`` and
``today()`` read the fake ``time.time()`` of `_timefakes`. `_check_wall`
turns ``patch_time(wall=...)`` into the start of the patched wall time.
"""

from __future__ import annotations

import datetime as _datetime_module
import math
import sys
import types
import warnings
from datetime import date as _real_date
from datetime import datetime as _real_datetime
from typing import Any, Final, final

from .._virtual._clock import VirtualClock
from ._timefakes import _virtual_time

__all__ = (
    "_DATETIME_PROXY",
    "_VirtualDate",
    "_VirtualDatetime",
    "_check_wall",
)

_UTC: Final = _datetime_module.timezone.utc
# Seconds from the epoch beyond any datetime (year 9999 ends at 2.5e11 s);
# the exact range check is fromtimestamp()'s, below.
_WALL_LIMIT: Final = 1e12

# CPython 3.12+ deprecate datetime.datetime.utcnow() (gh-103857). The fake
# warns exactly where the real one would, attributed to the caller's line.
_UTCNOW_WARNS: Final = sys.version_info >= (3, 12)
_UTCNOW_MESSAGE: Final = (
    "datetime.datetime.utcnow() is deprecated and scheduled for removal in a future "
    "version. Use timezone-aware objects to represent datetimes in UTC: "
    "datetime.datetime.now(datetime.UTC)."
)


# ---------------------------------------------------------------------------
# datetime: the C types cannot be patched, so target modules get subclasses
# ---------------------------------------------------------------------------


class _VirtualDateMeta(type):
    # Code in a target module may test isinstance(x, datetime) with x made
    # elsewhere: answer for the real class.
    _atk_real: type

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._atk_real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._atk_real)


@final
class _VirtualDatetime(_real_datetime, metaclass=_VirtualDateMeta):
    """``datetime.datetime`` whose ``now``/``utcnow``/``today`` read the patched wall time.

    Every constructor returns a real ``datetime.datetime``, so no instance of
    this class outlives the patch (pickles, reprs and ``type()`` stay real).
    """

    _atk_real = _real_datetime

    def __new__(cls, *args: Any, **kwargs: Any) -> _real_datetime:  # type: ignore[misc]
        # The C alternate constructors (fromtimestamp, fromisoformat, combine,
        # strptime) call cls(...) for a subclass, so they all land here.
        return _real_datetime(*args, **kwargs)

    @classmethod
    def now(cls, tz: _datetime_module.tzinfo | None = None) -> _real_datetime:  # type: ignore[override]
        return _real_datetime.fromtimestamp(_virtual_time(), tz)

    @classmethod
    def today(cls) -> _real_datetime:  # type: ignore[override]
        return _real_datetime.fromtimestamp(_virtual_time())

    @classmethod
    def utcnow(cls) -> _real_datetime:  # type: ignore[override]
        if _UTCNOW_WARNS:
            warnings.warn(_UTCNOW_MESSAGE, DeprecationWarning, stacklevel=2)
        utc = _real_datetime.fromtimestamp(_virtual_time(), _UTC)
        return utc.replace(tzinfo=None)


@final
class _VirtualDate(_real_date, metaclass=_VirtualDateMeta):
    """``datetime.date`` whose ``today()`` reads the patched wall time."""

    _atk_real = _real_date

    def __new__(cls, *args: Any, **kwargs: Any) -> _real_date:  # type: ignore[misc]
        return _real_date(*args, **kwargs)

    @classmethod
    def today(cls) -> _real_date:  # type: ignore[override]
        return _real_date.fromtimestamp(_virtual_time())


def _make_datetime_proxy() -> types.ModuleType:
    # For `import datetime` in a target: a module object like the real one
    # whose `datetime` and `date` are the virtual classes.
    proxy = types.ModuleType(_datetime_module.__name__, _datetime_module.__doc__)
    vars(proxy).update(vars(_datetime_module))
    proxy.datetime = _VirtualDatetime  # type: ignore[attr-defined]
    proxy.date = _VirtualDate  # type: ignore[attr-defined]
    return proxy


_DATETIME_PROXY: Final = _make_datetime_proxy()


# ---------------------------------------------------------------------------
# Validating the wall= option
# ---------------------------------------------------------------------------


def _check_wall(wall: object) -> bool | int:
    """Return False, True (start at entry) or the start as integer nanoseconds."""
    if isinstance(wall, bool):
        return wall
    if isinstance(wall, (int, float)):
        if isinstance(wall, float) and not math.isfinite(wall):
            raise ValueError(f"patch_time(wall=...) needs a finite timestamp; got {wall!r}")
        what = f"timestamp {wall!r}"
        if abs(wall) > _WALL_LIMIT:
            # Checked before the multiplication: 1e300 * 1e9 is a float
            # infinity, which round() refuses with a bare OverflowError.
            raise ValueError(f"patch_time(wall=...) got {what}, outside what datetime can represent")
        start_ns = wall * 1_000_000_000 if isinstance(wall, int) else round(wall * 1e9)
    elif isinstance(wall, _real_datetime):
        if wall.tzinfo is not None and wall.utcoffset() is None:
            raise ValueError(
                f"patch_time(wall=...) got {wall!r}, whose tzinfo gives no UTC offset: it "
                "is neither naive nor aware, so it names no instant. Pass an aware "
                "datetime (tzinfo=datetime.timezone.utc) or a naive one meant as local time"
            )
        what = repr(wall)
        aware = wall
        if wall.tzinfo is None:
            # A naive datetime is local time; astimezone() resolves it (fold
            # picks between the two readings of an hour that repeats).
            try:
                aware = wall.astimezone()
            except (OverflowError, OSError, ValueError):
                raise ValueError(
                    f"patch_time(wall=...) got {what}, outside what the local time zone "
                    "can represent"
                ) from None
            if aware.replace(tzinfo=None) != wall:
                raise ValueError(
                    f"patch_time(wall=...) got the naive {what}, which does not exist "
                    "in the local time zone (a daylight-saving gap); pass an aware "
                    "datetime instead"
                )
        start_ns = _aware_ns(aware)
    else:
        raise TypeError(
            "patch_time(wall=...) takes True, False, a timestamp in seconds or a "
            f"datetime.datetime; got {wall!r} ({type(wall).__name__})"
        )
    try:
        _real_datetime.fromtimestamp(start_ns // 1_000_000_000, _UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(
            f"patch_time(wall=...) got {what}, outside what datetime can represent"
        ) from None
    return int(start_ns)


def _aware_ns(moment: _real_datetime) -> int:
    # Exact: no float on the way.
    epoch = _real_datetime(1970, 1, 1, tzinfo=_UTC)
    delta = moment - epoch
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000


# ---------------------------------------------------------------------------
# VirtualClock.set_wall()
# ---------------------------------------------------------------------------


def _set_wall(clock: VirtualClock, when: object) -> bool:
    """Set every wall clock patched on ``clock`` to read ``when`` now; False if there is none.

    A wall patch keeps wall time as ``delta_ns`` + the clock's virtual time
    (`_timefakes._Wall`): changing ``delta_ns`` moves the wall clock and
    nothing else. Validates ``when`` as ``patch_time(wall=...)`` does, before
    changing anything.
    """
    if isinstance(when, bool):
        raise TypeError(f"set_wall() takes a timestamp in seconds or a datetime.datetime; got {when!r}")
    try:
        wall_ns = _check_wall(when)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("patch_time(wall=...)", "set_wall()")) from None
    from . import _timepatch  # imports this module: look it up when called

    walls = [entry.wall for entry in _timepatch._entries if entry.clock is clock and entry.wall is not None]
    for wall in walls:
        wall.delta_ns = int(wall_ns) - clock._ns
    return bool(walls)


VirtualClock._wall_setter = _set_wall
