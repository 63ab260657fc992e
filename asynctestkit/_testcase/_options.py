"""The class options of AsyncTestCase and ClockedTestCase: one table, checked in one place.

Each option is one `Option` entry in `OPTIONS`: its name, the class that
reads it, its default, what values it takes (in words, for the error and the
docs) and the function that checks a value. The table is the only place that
knows them: `install_defaults` puts the defaults on the classes,
`check_class` checks a test class's options when the class is created (a
misspelt option raises with a suggestion, a wrong value names the option,
what was expected and what was got), and `check_configure` checks what
``@configure(...)`` gives one test.

To add an option: add one `Option(...)` to `_TABLE` below (and, for type
checkers, a ``name: ClassVar[T]`` annotation on the class that reads it). The
class attribute, the check at class creation, ``configure()`` and the
suggestions for misspellings follow from the entry.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import math
import sys
import types
from typing import TYPE_CHECKING, Any, final

from .._faketime._aliases import _check_targets
from .._faketime._walltime import _check_wall
from .._verdict._resources import resource_kinds
from .._virtual._clock import BUSY_POLL_LIMIT, HORIZON

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__unittest = True  # keep these frames out of failure tracebacks
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

__all__ = ("OPTIONS", "Option", "check_class", "check_configure", "install_defaults")

# How close (difflib ratio) a class attribute's name must be to an option's
# to be taken for a misspelling of it.
_MISSPELT = 0.8


def _got(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _seconds(
    *, zero: bool, negative: bool = False, none: bool = True, most: float = math.inf
) -> Callable[[Any], None]:
    """Return a check for a finite number of seconds, at most ``most`` (bool is not a number here)."""

    def check(value: Any) -> None:
        if value is None and none:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(_got(value))
        if (
            not math.isfinite(value) or (value < 0 and not negative) or (value == 0 and not zero)
            or value > most
        ):
            raise ValueError(_got(value))

    return check


def _iterations(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(_got(value))
    if value < 1:
        raise ValueError(_got(value))


def _boolean(value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(_got(value))


def _count(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(_got(value))
    if value < 0:
        raise ValueError(_got(value))


def _jobs(value: Any) -> None:
    _count(value)
    if value < 1:
        raise ValueError(_got(value))


def _seed(value: Any) -> None:
    if value is not None:
        _count(value)


def _scope(value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(_got(value))
    if value not in ("test", "class"):
        raise ValueError(_got(value))


def _network(value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(_got(value))
    if value not in ("real", "virtual"):
        raise ValueError(_got(value))


def _loop_factory(value: Any) -> None:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if value is not None and not callable(value):
        raise TypeError(_got(value))


def _targets(value: Any) -> None:
    # patch_time's own check; its message names the faulty entry.
    try:
        targets = _check_targets(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{_got(value)}: {exc}") from None
    # A name that names no module would fail each test later, when time is
    # patched: refuse it now (finding it imports its parent packages only).
    for target in targets:
        if isinstance(target, str) and target not in sys.modules:
            try:
                found = importlib.util.find_spec(target) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise ValueError(
                    f"{_got(value)}: there is no module {target!r} to patch; name the modules "
                    "of the code under test, as `import` would"
                )


def _resources(value: Any) -> None:
    try:
        resource_kinds(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{_got(value)}: {exc}") from None


def _wall(value: Any) -> None:
    try:
        _check_wall(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{_got(value)}: {exc}") from None


@final
class Option:
    """One class option: where it applies, its default, what it accepts and what it does.

    Args:
        name: The class attribute (and ``configure()`` keyword).
        owner: ``"AsyncTestCase"`` (every test case class) or
            ``"ClockedTestCase"`` (only the virtual-clock one).
        default: The value on the class that declares it.
        expected: What values it takes, in words: used in errors and docs.
        check: Raises TypeError (wrong type) or ValueError (wrong value)
            for a value it does not take; the message says what was got.
        doc: What it does, one sentence.
        per_test: Whether ``@configure`` may set it for one test.
        attribute: Where the class keeps it, when not under ``name``.
    """

    __slots__ = ("attribute", "check", "default", "doc", "expected", "name", "owner", "per_test")

    def __init__(
        self,
        name: str,
        *,
        owner: str,
        default: Any,
        expected: str,
        check: Callable[[Any], None],
        doc: str,
        per_test: bool = True,
        attribute: str | None = None,
    ) -> None:
        self.name = name
        self.owner = owner
        self.default = default
        self.expected = expected
        self.check = check
        self.doc = doc
        self.per_test = per_test
        self.attribute = attribute or name

    def __repr__(self) -> str:
        return f"<Option {self.owner}.{self.name}={self.default!r}>"

    def validate(self, value: Any, where: str) -> None:
        """Raise TypeError/ValueError naming ``where``, expected and got, if ``value`` is not taken."""
        try:
            self.check(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where} must be {self.expected}; got {exc}") from None


_SECONDS_OR_NONE = "a positive, finite number of seconds, or None"
_TABLE = (
    # -- every test case class ------------------------------------------------
    Option(
        "loop_factory", owner="AsyncTestCase", default=None, per_test=False,
        expected="None (the platform's loop), a loop class or a function returning a new loop",
        check=_loop_factory,
        doc="The class or function that makes the test's loop.",
    ),
    Option(
        "loop_scope", owner="AsyncTestCase", default="test", per_test=False,
        expected="'test' (a new loop per test) or 'class' (one loop for the whole class)",
        check=_scope,
        doc="Whether each test gets a new loop or the class's tests share one.",
    ),
    Option(
        # 0 would mean "no limit" to SIGALRM and "at once" to the timer thread.
        "timeout", owner="AsyncTestCase", default=60.0,
        expected=f"{_SECONDS_OR_NONE} (no limit)",
        check=_seconds(zero=False),
        doc="Real seconds a test may run before the watchdog stops it.",
    ),
    Option(
        "debug", owner="AsyncTestCase", default=False, attribute="_asynctestkit_debug",
        expected="True or False", check=_boolean,
        doc="asyncio's debug mode for the test's loop.",
    ),
    Option(
        "check_tasks", owner="AsyncTestCase", default=True, expected="True or False", check=_boolean,
        doc="Fail a test that leaves a task pending.",
    ),
    Option(
        "check_exceptions", owner="AsyncTestCase", default=True, expected="True or False",
        check=_boolean,
        doc="Fail a test whose exceptions reached the loop's handler or were never retrieved.",
    ),
    Option(
        "check_coroutines", owner="AsyncTestCase", default=True, expected="True or False",
        check=_boolean,
        doc="Fail a test that made a coroutine and never awaited it.",
    ),
    Option(
        "check_timers", owner="AsyncTestCase", default=True, expected="True or False", check=_boolean,
        doc="Fail a test that leaves a call_later/call_at timer pending.",
    ),
    Option(
        "check_threads", owner="AsyncTestCase", default=True, expected="True or False", check=_boolean,
        doc="Fail a test whose loop was called from another thread without call_soon_threadsafe.",
    ),
    Option(
        "check_resources", owner="AsyncTestCase", default=True,
        expected=(
            "True (every kind), False (none) or a set of kinds: 'servers', 'connections', "
            "'sockets', 'subprocesses', 'executors', 'threads'"
        ),
        check=_resources,
        doc=(
            "Fail a test that leaves open a server, connection, socket, subprocess, executor "
            "or thread it opened (each named with the line that opened it)."
        ),
    ),
    Option(
        "slow_callback_duration", owner="AsyncTestCase", default=0.1,
        expected="a non-negative, finite number of seconds, or None (not checked)",
        check=_seconds(zero=True),
        doc="Real seconds a callback may block the loop before it is reported.",
    ),
    Option(
        "slow_callback_fails", owner="AsyncTestCase", default=False, expected="True or False",
        check=_boolean,
        doc="Report slow callbacks as a failure instead of a SlowCallbackWarning.",
    ),
    # -- ClockedTestCase ------------------------------------------------------------
    Option(
        "autojump", owner="ClockedTestCase", default=True, expected="True or False", check=_boolean,
        doc="Jump the clock to the next timer when every task waits.",
    ),
    Option(
        "clock_start", owner="ClockedTestCase", default=0.0,
        expected=f"a non-negative, finite number of seconds up to {HORIZON!r} (where virtual time ends)",
        check=_seconds(zero=True, none=False, most=HORIZON),
        doc="The virtual time each test (or, class-scoped, the class's clock) starts at.",
    ),
    Option(
        # One day: an endless `while True: await asyncio.sleep(1)` fails in
        # about a second of real time (30 days took 20 s or more).
        "clock_budget", owner="ClockedTestCase", default=86400.0,
        expected=(
            f"a non-negative, finite number of seconds up to {HORIZON!r} (where virtual time "
            "ends), or None (no limit)"
        ),
        check=_seconds(zero=True, most=HORIZON),
        doc="Virtual seconds autojump may use in one test before LivelockError.",
    ),
    Option(
        "busy_poll_limit", owner="ClockedTestCase", default=BUSY_POLL_LIMIT,
        expected="a whole number of loop iterations >= 1, or None (busy polling never counts as idle)",
        check=_iterations,
        doc=(
            "Loop iterations of pure busy polling (tasks that only `await asyncio.sleep(0)`) "
            "after which the loop counts as idle and autojump moves time; a spin nothing can "
            "end is a LivelockError after 30 times as many callbacks."
        ),
    ),
    Option(
        "time_targets", owner="ClockedTestCase", default=(),
        expected="modules or absolute dotted module names (see patch_time's targets)",
        check=_targets,
        doc="Modules whose `from time import monotonic` references read the virtual clock too.",
    ),
    Option(
        # On by default: code under test that sets deadlines with time.time()
        # and waits with asyncio.sleep() (kubernetes-asyncio's leader election)
        # never reaches them otherwise; turning it on broke nothing real.
        "time_wall", owner="ClockedTestCase", default=True,
        expected="False, True, a POSIX timestamp or a datetime (see patch_time's wall)",
        check=_wall,
        doc="Move time.time() (and datetime in the targets) with the virtual clock, from the real "
            "time at the start (True) or the given start; False: the wall clock stays real.",
    ),
    # Schedule exploration (see _explore.py).
    Option(
        "schedule_seed", owner="ClockedTestCase", default=None,
        expected="a non-negative int, or None (the default order)", check=_seed,
        doc="Run the test under this seed, which orders what asyncio leaves open.",
    ),
    Option(
        "explore", owner="ClockedTestCase", default=0,
        expected="a non-negative int, the number of seeds to explore", check=_count,
        doc="Run the test under this many seeds, then the default order.",
    ),
    Option(
        "schedule_jitter", owner="ClockedTestCase", default=0.1,
        expected="a non-negative, finite fraction of a timer's delay (0: never late)",
        check=_seconds(zero=True, none=False),
        doc="Under half the seeds, how late each timer may fire, as a fraction of its own delay.",
    ),
    Option(
        "schedule_eager", owner="ClockedTestCase", default=False, expected="True or False",
        check=_boolean,
        doc="Under a seed, on 3.12+, start the loop's tasks eagerly or lazily (one choice per seed).",
    ),
    Option(
        "explore_jobs", owner="ClockedTestCase", default=1,
        expected="a positive int, the processes to run an exploration's seeds in", check=_jobs,
        doc="Run an exploration's seeds in this many forked processes; the lowest failing seed is reported.",
    ),
    Option(
        "network", owner="ClockedTestCase", default="real",
        expected="'real' (real sockets) or 'virtual' (an in-memory VirtualNetwork)",
        check=_network,
        doc="Whether the test's connections and servers use real sockets or a VirtualNetwork.",
    ),
)

OPTIONS: Mapping[str, Option] = types.MappingProxyType({option.name: option for option in _TABLE})


def install_defaults(cls: type, owner: str) -> None:
    """Set each option ``owner`` declares on ``cls``, with its default (once, at import)."""
    for option in OPTIONS.values():
        if option.owner == owner:
            setattr(cls, option.attribute, option.default)


def _owners(cls: type) -> set[str]:
    # The asynctestkit test case classes cls derives from, by name.
    return {k.__name__ for k in cls.__mro__ if k.__module__ == "asynctestkit._testcase._case"}


def _is_code(value: object) -> bool:
    """Whether a class attribute is a method or descriptor (never an option's value)."""
    return isinstance(value, (types.FunctionType, staticmethod, classmethod, property))


def _misspelt(cls: type, name: str, value: object) -> str | None:
    """Return the option ``name`` looks like a misspelling of, if any."""
    if name.startswith("_") or name in OPTIONS or _is_code(value):
        return None
    if any(name in vars(base) or name in vars(base).get("__annotations__", ()) for base in cls.__mro__[1:]):
        return None  # overrides something a base class has: not a typo
    close = difflib.get_close_matches(name, OPTIONS, n=1, cutoff=_MISSPELT)
    if not close:
        return None
    option = OPTIONS[close[0]]
    try:
        option.check(value)
    except (TypeError, ValueError):
        # A value the option would not take either: a typo only if it looks
        # like an option's value (`check_task = "no"`), not a list or a dict.
        if not isinstance(value, (bool, int, float, str, type(None))):
            return None
    return option.name


def check_class(cls: type) -> None:
    """Check a test case class's options (called by ``__init_subclass__``, as the class is made).

    The class's own attributes are looked at for misspelt options and for
    options of the other test case class; the value of every option the
    class reads is checked, wherever it was set (the class, a mixin, a base).

    Raises:
        TypeError: an attribute is a misspelt option (the message suggests
            the option), an option of ClockedTestCase on an AsyncTestCase, a
            ``@configure`` of such an option on one of its tests, or an option
            of the wrong type.
        ValueError: an option's value is out of range.
    """
    owners = _owners(cls)
    klass = cls.__name__
    for name, value in list(vars(cls).items()):
        option = OPTIONS.get(name)
        if option is not None:
            _check_owner(option, owners, f"{klass}.{name}")
            if option.attribute != name and not _is_code(value):
                # `debug`: TestLifecycle moves a bool to its attribute; what is left is not one.
                option.validate(value, f"{klass}.{name}")
            continue
        guess = _misspelt(cls, name, value)
        if guess is not None:
            raise TypeError(
                f"{klass}.{name} is not an option of {_kind(owners)}; did you mean {guess!r}? "
                f"(a class attribute this close to an option's name is taken for a "
                f"misspelling; if it is yours, give it another name or a leading underscore)"
            )
        per_test = getattr(value, "_asynctestkit_options", ()) if _is_code(value) else ()
        for option_name in per_test:
            _check_owner(OPTIONS[option_name], owners, f"{klass}.{name}: @configure({option_name}=...)")
    # Every option the class reads, wherever in its bases it was set (a mixin too).
    for option in OPTIONS.values():
        if option.owner in owners:
            value = inspect.getattr_static(cls, option.attribute, option.default)
            option.validate(value, f"{klass}.{option.name}")
    if "ClockedTestCase" in owners and inspect.getattr_static(cls, "loop_scope", "test") == "class":
        _refuse_class_exploring(cls, klass)


def _refuse_class_exploring(cls: type, klass: str) -> None:
    """``explore`` runs a test on a fresh loop per seed; a class that shares one loop cannot."""
    where = [f"{klass}.explore = {inspect.getattr_static(cls, 'explore', 0)}"]
    for name, value in vars(cls).items():
        per_test = getattr(value, "_asynctestkit_options", {}) if _is_code(value) else {}
        if per_test.get("explore"):
            where.append(f"{klass}.{name}: @configure(explore={per_test['explore']})")
    if not inspect.getattr_static(cls, "explore", 0):
        where.pop(0)
    if where:
        raise ValueError(
            f"{where[0]}: exploring runs each test on a new loop per seed, and {klass} shares one "
            "loop between its tests (loop_scope = \"class\"); explore a class with loop_scope = "
            "\"test\", or set schedule_seed to run the shared loop under one seed"
        )


def _kind(owners: set[str]) -> str:
    return "ClockedTestCase" if "ClockedTestCase" in owners else "AsyncTestCase"


def _check_owner(option: Option, owners: set[str], where: str) -> None:
    if option.owner not in owners:
        raise TypeError(
            f"{where}: {option.name} is an option of {option.owner}, and this class is an "
            f"{_kind(owners)}; derive the class from {option.owner}, or remove it"
        )


def check_configure(options: Mapping[str, Any]) -> None:
    """Check the options given to ``@configure(...)`` for one test.

    Raises:
        TypeError: an unknown name (with suggestions), an option only a class
            can set (``loop_factory``, ``loop_scope``), or a value of the
            wrong type.
        ValueError: a value out of range.
    """
    known = sorted(name for name, option in OPTIONS.items() if option.per_test)
    for name, value in options.items():
        option = OPTIONS.get(name)
        if option is None:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise TypeError(
                f"configure() got an unknown option {name!r}{hint}; known options: {', '.join(known)}"
            )
        if not option.per_test:
            raise TypeError(
                f"configure() cannot set {name}: it applies to the whole class (its tests share "
                f"it); set {name} on the class"
            )
        option.validate(value, f"configure({name}=...)")

