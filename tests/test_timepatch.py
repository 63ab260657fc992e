"""Tests for patch_time: fake monotonic and wall time on a VirtualClock."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import gc
import os
import queue
import sys
import threading
import time
import types
import unittest
import warnings
from collections.abc import Callable, Generator
from typing import Any

from asynctestkit._faketime import _aliases, _timefakes, _timepatch
from asynctestkit._faketime._timepatch import patch_time
from asynctestkit._virtual._clock import VirtualClock
from tests.timepatch_fixtures import aliases, dates, sub, unpatchable
from tests.timepatch_fixtures.sub import deep

try:
    from asynctestkit._virtual._factory import virtual_event_loop
except ImportError:  # the loop is built separately; its tests skip without it
    virtual_event_loop = None  # type: ignore[assignment]

PATCHED = ("monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns")
UTC = datetime.timezone.utc
ORIGINALS = {name: getattr(time, name) for name in PATCHED}
FIXTURES = "tests.timepatch_fixtures"


def set_local_timezone(case: unittest.TestCase, tz: str) -> None:
    """Switch the process's local time zone to the POSIX ``tz`` until the test ends."""
    if not hasattr(time, "tzset"):
        case.skipTest("time.tzset() is not available here")
    saved = os.environ.get("TZ")

    def restore() -> None:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()

    case.addCleanup(restore)
    os.environ["TZ"] = tz
    time.tzset()


# US Eastern in POSIX form: needs no tz database. 2024-03-10 02:30 does not exist.
EASTERN = "EST5EDT,M3.2.0,M11.1.0"


def run_in_thread(func: Callable[[], Any]) -> Any:
    """Run ``func`` on a new thread and return its result."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(func).result(timeout=5)


class _Checks(unittest.TestCase):
    """Shared setup: a manual clock, and a check that nothing stays patched."""

    def setUp(self) -> None:
        self.clock = VirtualClock(autojump=False, start=1000)
        self.addCleanup(self.assertRestored)

    def assertRestored(self) -> None:
        for name, original in ORIGINALS.items():
            self.assertIs(getattr(time, name), original, f"time.{name} was left patched")
        self.assertIs(aliases.monotonic, ORIGINALS["monotonic"])
        self.assertEqual(_timepatch._entries, [])
        self.assertEqual(_aliases._sites, {})
        self.assertEqual(_aliases._defaults, {})
        self.assertEqual(_timepatch._clock_refs, {})
        self.assertIs(_timefakes._top, _timefakes._NO_CLOCK)
        self.assertIs(_timefakes._wall_top, _timefakes._NO_WALL)


class MonotonicTest(_Checks):
    """time.monotonic/perf_counter and their _ns forms read the clock, no loop needed."""

    def test_jump_moves_monotonic_by_exactly_the_jump(self) -> None:
        """A sync test can jump the clock and see time.monotonic() move by as much."""
        with patch_time(self.clock):
            before = time.monotonic()
            self.clock.jump(5)
            self.assertEqual(time.monotonic() - before, 5)

    def test_all_four_read_the_clock(self) -> None:
        """monotonic and perf_counter give clock.now, their _ns forms clock.now_ns."""
        self.clock.jump(0.123456789)
        with patch_time(self.clock):
            self.assertEqual(time.monotonic(), self.clock.now)
            self.assertEqual(time.perf_counter(), self.clock.now)
            self.assertEqual(time.monotonic_ns(), self.clock.now_ns)
            self.assertEqual(time.perf_counter_ns(), 1_000_123_456_789)

    def test_never_goes_backwards(self) -> None:
        """Successive readings on the owner thread never decrease."""
        with patch_time(self.clock):
            readings = []
            for step in (0, 1e-9, 0.5, 0, 3):
                self.clock.jump(step)
                readings.append((time.monotonic(), time.monotonic_ns()))
        self.assertEqual(readings, sorted(readings))

    def test_wall_clock_untouched_without_wall(self) -> None:
        """Without wall=, time.time and time.time_ns stay the real functions."""
        with patch_time(self.clock):
            self.assertIs(time.time, ORIGINALS["time"])
            self.assertIs(time.time_ns, ORIGINALS["time_ns"])

    def test_entering_thread_owns_a_clock_without_owner(self) -> None:
        """With no loop, the entering thread owns the clock until the exit."""
        self.assertIsNone(self.clock._thread_id)
        with patch_time(self.clock):
            self.assertEqual(self.clock._thread_id, threading.get_ident())
        self.assertIsNone(self.clock._thread_id)

    def test_owner_set_by_a_loop_is_kept(self) -> None:
        """A clock already owned by a (loop) thread keeps that owner after exit."""
        self.clock._thread_id = 12345
        with patch_time(self.clock):
            self.assertNotEqual(time.monotonic(), self.clock.now)
        self.assertEqual(self.clock._thread_id, 12345)

    def test_enter_returns_the_patch(self) -> None:
        """`with patch_time(...) as tp` binds the TimePatch itself."""
        patch = patch_time(self.clock)
        with patch as entered:
            self.assertIs(entered, patch)
            self.assertRegex(
                repr(patch),
                r"^<TimePatch clock=<VirtualClock now=1000.0s .*> targets=\[\] wall=False active=1>$",
            )


class ThreadsTest(_Checks):
    """Only the owner thread sees virtual time; every other thread keeps real time."""

    def test_other_thread_sees_real_time(self) -> None:
        """A plain thread reads the real clocks while the owner reads virtual time."""
        with patch_time(self.clock):
            real = run_in_thread(
                lambda: (time.monotonic(), time.perf_counter_ns(), ORIGINALS["monotonic"]())
            )
            self.assertEqual(time.monotonic(), 1000.0)
        self.assertAlmostEqual(real[0], real[2], delta=1.0)
        self.assertNotEqual(real[1], self.clock.now_ns)

    def test_other_thread_reads_all_six_real(self) -> None:
        """With one clock patched with wall=, another thread reads real time from all six."""
        with patch_time(self.clock, wall=2000):
            seen = run_in_thread(lambda: {name: getattr(time, name)() for name in PATCHED})
            self.assertEqual(time.time(), 2000.0)
        for name, value in seen.items():
            with self.subTest(name):
                scale = 10**9 if name.endswith("_ns") else 1
                real = ORIGINALS[name]()
                self.assertLess(abs(real - value), 60 * scale, f"time.{name}() read {value}")

    def test_queue_and_event_timeouts_stay_real(self) -> None:
        """queue and threading timeouts wait real time even on the owner thread."""
        with patch_time(self.clock):
            start = ORIGINALS["monotonic"]()
            with self.assertRaises(queue.Empty):
                queue.Queue().get(timeout=0.02)
            self.assertFalse(threading.Event().wait(0.01))
            self.assertGreaterEqual(ORIGINALS["monotonic"]() - start, 0.03)
            self.assertEqual(time.monotonic(), 1000.0)

    def test_owner_follows_the_clock_thread_id(self) -> None:
        """When a loop claims the clock for another thread, that thread gets virtual time."""

        def claim() -> float:
            self.clock._thread_id = threading.get_ident()
            return time.monotonic()

        with patch_time(self.clock):
            self.assertEqual(run_in_thread(claim), 1000.0)
            self.assertNotEqual(time.monotonic(), 1000.0)
        # The loop's claim stands; the patch gives back only what it set.
        self.assertIsNotNone(self.clock._thread_id)

    def test_two_clocks_on_two_threads(self) -> None:
        """Concurrent patches on different threads each read their own clock."""
        other = VirtualClock(autojump=False, start=7)
        entered, release = threading.Event(), threading.Event()
        seen: list[float] = []

        def worker() -> None:
            with patch_time(other):
                entered.set()
                release.wait(5)
                seen.append(time.monotonic())

        thread = threading.Thread(target=worker)
        with patch_time(self.clock):
            thread.start()
            entered.wait(5)
            self.assertIs(_timefakes._top, _timefakes._MULTI)
            self.assertEqual(time.monotonic(), 1000.0)
            self.assertEqual(time.perf_counter_ns(), 1000 * 10**9)
            release.set()
            thread.join(5)
            self.assertIs(_timefakes._top, self.clock)
        self.assertEqual(seen, [7.0])

    def test_every_fake_reads_its_own_clock_with_two_owners(self) -> None:
        """With two patched clocks on two threads, each owner reads its own clock in all six
        functions, and a third thread reads real time from all six."""
        other = VirtualClock(autojump=False, start=7)
        entered, release = threading.Event(), threading.Event()
        seen: dict[str, object] = {}

        def read_all() -> dict[str, object]:
            return {name: getattr(time, name)() for name in PATCHED}

        def worker() -> None:
            with patch_time(other, wall=50):
                entered.set()
                release.wait(5)
                seen.update(read_all())

        thread = threading.Thread(target=worker)
        with patch_time(self.clock, wall=2000):
            thread.start()
            try:
                self.assertTrue(entered.wait(5))
                self.assertIs(_timefakes._top, _timefakes._MULTI)
                self.assertIs(_timefakes._wall_top, _timefakes._WALL_MULTI)
                mine = read_all()
                third = run_in_thread(read_all)
            finally:
                release.set()
                thread.join(5)
        self.assertEqual(
            mine,
            {"monotonic": 1000.0, "monotonic_ns": 1000 * 10**9, "perf_counter": 1000.0,
             "perf_counter_ns": 1000 * 10**9, "time": 2000.0, "time_ns": 2000 * 10**9},
        )
        self.assertEqual(
            seen,
            {"monotonic": 7.0, "monotonic_ns": 7 * 10**9, "perf_counter": 7.0,
             "perf_counter_ns": 7 * 10**9, "time": 50.0, "time_ns": 50 * 10**9},
        )
        for name, value in third.items():
            with self.subTest(name):
                real = ORIGINALS[name]()
                scale = 10**9 if name.endswith("_ns") else 1
                self.assertLess(abs(real - value), 60 * scale, f"time.{name}() read {value}")

    @unittest.skipUnless(hasattr(os, "register_at_fork"), "needs os.register_at_fork")
    def test_fork_child_hook_gives_up_every_clock(self) -> None:
        """The after-fork hook (run here as a forked child would) makes the owner thread read
        real monotonic and wall time, and leaves the clocks unowned.

        tests/test_threads.py forks for real; this runs the same hook in this process so the
        effect is checked where coverage can see it.
        """
        me = threading.get_ident()
        with patch_time(self.clock, wall=2000):
            self.assertEqual(time.monotonic(), 1000.0)
            try:
                _timefakes._real_time_in_child()
                owner = self.clock._thread_id
                mono, wall = time.monotonic(), time.time()
                real_mono, real_wall = ORIGINALS["monotonic"](), ORIGINALS["time"]()
            finally:
                self.clock._thread_id = me
        self.assertIsNone(owner)
        self.assertLess(abs(mono - real_mono), 60)
        self.assertLess(abs(wall - real_wall), 60)


@unittest.skipIf(virtual_event_loop is None, "asynctestkit._virtual._loop is not there yet")
class VirtualLoopTest(_Checks):
    """On a virtual loop, time.monotonic() agrees with loop.time() to the nanosecond."""

    def test_monotonic_equals_loop_time(self) -> None:
        """After a virtual sleep, time.monotonic() is loop.time() exactly."""
        clock = VirtualClock(start=0.1)
        loop = virtual_event_loop(clock)
        self.addCleanup(loop.close)

        async def main() -> list[Any]:
            async with patch_time(clock):
                start = time.monotonic()
                await asyncio.sleep(0.3)
                return [start, time.monotonic(), loop.time(), time.monotonic_ns(), clock.now_ns]

        start, mono, loop_time, mono_ns, now_ns = loop.run_until_complete(main())
        self.assertEqual(start, 0.1)
        self.assertEqual(mono, loop_time)
        self.assertEqual(mono_ns, now_ns)
        self.assertEqual(now_ns, 400_000_000)


class OwnerCheckTest(_Checks):
    """A plain asyncio loop on the owner thread is refused: its timers would never fire."""

    def test_plain_loop_is_refused(self) -> None:
        """Entering on a thread running a loop the clock does not drive raises."""

        async def main() -> None:
            with patch_time(self.clock):
                pass

        with self.assertRaisesRegex(
            RuntimeError, r"^patch_time\(\) was entered on a thread running .* does not drive"
        ):
            asyncio.run(main())
        self.assertIsNone(self.clock._thread_id)


class WallTest(_Checks):
    """wall= moves time.time/time_ns and datetime in the targets with the clock."""

    def test_time_is_start_plus_elapsed(self) -> None:
        """time.time() and time_ns() read the start plus the virtual time elapsed."""
        with patch_time(self.clock, wall=1_700_000_000):
            self.assertEqual(time.time_ns(), 1_700_000_000 * 10**9)
            self.clock.jump(2.5)
            self.assertEqual(time.time(), 1_700_000_002.5)
            self.assertEqual(time.time_ns(), 1_700_000_002_500_000_000)

    def test_true_starts_at_real_now(self) -> None:
        """wall=True starts at the real wall time at entry."""
        before = ORIGINALS["time"]()
        with patch_time(self.clock, wall=True):
            self.clock.jump(3600)
            self.assertAlmostEqual(time.time(), before + 3600, delta=1.0)

    def test_aware_datetime_start(self) -> None:
        """An aware datetime is that instant."""
        start = datetime.datetime(2024, 2, 29, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        with patch_time(self.clock, wall=start):
            self.assertEqual(time.time_ns(), int(start.timestamp()) * 10**9)

    def test_naive_datetime_is_local_time(self) -> None:
        """A naive datetime is read as local time, like datetime.timestamp()."""
        set_local_timezone(self, EASTERN)
        start = datetime.datetime(2024, 1, 15, 8, 30, 0, 250)
        with patch_time(self.clock, wall=start):
            self.assertEqual(time.time_ns(), 1_705_325_400_000_250_000)

    def test_other_thread_keeps_real_wall_time(self) -> None:
        """Only the owner thread sees the moved wall clock."""
        with patch_time(self.clock, wall=0):
            self.assertEqual(time.time(), 0.0)
            self.assertGreater(run_in_thread(time.time), 1e9)

    def test_datetime_in_targets(self) -> None:
        """now(), today() and date.today() in target modules read the wall time."""
        start = datetime.datetime(2030, 5, 17, 23, 59, 30, tzinfo=UTC)
        with patch_time(self.clock, targets=[dates], wall=start):
            self.assertEqual(dates.aware_now(), start)
            self.clock.jump(60)
            later = start + datetime.timedelta(seconds=60)
            self.assertEqual(dates.aware_now(), later)
            self.assertEqual(dates.naive_now(), later.astimezone().replace(tzinfo=None))
            self.assertEqual(dates.datetime_today(), dates.naive_now())
            self.assertEqual(dates.today(), later.astimezone().date())
            self.assertEqual(dates.from_default(), dates.naive_now())
        self.assertIs(dates.DT, datetime.datetime)
        self.assertIs(dates.date, datetime.date)
        self.assertIs(dates.datetime, datetime)
        self.assertLess(abs(dates.aware_now().timestamp() - ORIGINALS["time"]()), 5)

    def test_utcnow_behaves_like_the_real_one(self) -> None:
        """utcnow() reads the wall time and warns (3.12+) where the real one would."""
        start = datetime.datetime(2030, 1, 1, tzinfo=UTC)
        with patch_time(self.clock, targets=[dates], wall=start), warnings.catch_warnings(
            record=True
        ) as caught:
            warnings.simplefilter("always")
            self.assertEqual(dates.utc_now(), datetime.datetime(2030, 1, 1))
        if sys.version_info >= (3, 12):
            self.assertEqual([w.category for w in caught], [DeprecationWarning])
            self.assertEqual(caught[0].filename, dates.__file__)
            self.assertRegex(str(caught[0].message), r"^datetime\.datetime\.utcnow\(\) is deprecated")
        else:
            self.assertEqual(caught, [])

    def test_virtual_datetime_makes_real_datetimes(self) -> None:
        """Constructors return real datetimes and isinstance() answers for the real class."""
        with patch_time(self.clock, targets=[dates], wall=0):
            made = [
                dates.DT(2020, 1, 1),
                dates.DT.fromisoformat("2020-01-01T00:00:00"),
                dates.DT.fromtimestamp(0),
                dates.DT.now(),
                dates.datetime.datetime(2020, 1, 1),
                dates.date(2020, 1, 1),
                dates.date.today(),
            ]
            self.assertEqual({type(m) for m in made}, {datetime.datetime, datetime.date})
            self.assertIsInstance(datetime.datetime(2020, 1, 1), dates.DT)
            self.assertIsInstance(datetime.datetime(2020, 1, 1), dates.date)
            self.assertNotIsInstance(datetime.date(2020, 1, 1), dates.DT)
            self.assertIs(dates.datetime.timedelta, datetime.timedelta)

    def test_code_outside_targets_keeps_real_datetime(self) -> None:
        """datetime itself is never patched: only names in the targets are rebound."""
        with patch_time(self.clock, targets=[dates], wall=0):
            self.assertIs(datetime.datetime, dates.DT.__mro__[1])
            self.assertGreater(datetime.datetime.now().year, 2000)

    def test_wall_false_leaves_datetime_names_alone(self) -> None:
        """Without wall=, datetime names and time.time aliases in the targets stay real."""
        with patch_time(self.clock, targets=[dates, aliases]):
            self.assertIs(dates.DT, datetime.datetime)
            self.assertIs(aliases.wall_time, ORIGINALS["time"])
            self.assertIs(aliases.stamp_wall.__defaults__[0], ORIGINALS["time"])  # type: ignore[index]


class AliasTest(_Checks):
    """References in the target modules are rebound while active and restored after."""

    def test_module_level_names(self) -> None:
        """`from time import monotonic` style names read the clock while active."""
        with patch_time(self.clock, targets=[aliases]):
            self.assertEqual(aliases.monotonic(), 1000.0)
            self.assertEqual(aliases.mono_ns(), 1000 * 10**9)
            self.assertEqual(aliases.perf_counter(), 1000.0)
            self.assertEqual(aliases.perf_counter_ns(), 1000 * 10**9)
            self.clock.jump(4)
            self.assertEqual(aliases.elapsed_since(1000), 4)
        for name in ("monotonic", "mono_ns", "perf_counter", "perf_counter_ns"):
            self.assertIs(getattr(aliases, name), getattr(time, name.replace("mono_ns", "monotonic_ns")))

    def test_default_arguments(self) -> None:
        """Positional and keyword-only defaults are rebound; the originals come back."""
        defaults = aliases.deadline.__defaults__
        kwdefaults = aliases.stamp.__kwdefaults__
        with patch_time(self.clock, targets=[aliases]):
            self.assertEqual(aliases.deadline(30), 1030.0)
            self.assertEqual(aliases.stamp(), 1000 * 10**9)
            self.assertEqual(aliases.wrapped_deadline(1), 1001.0)
        self.assertIs(aliases.deadline.__defaults__, defaults)
        self.assertIs(aliases.stamp.__kwdefaults__, kwdefaults)

    def test_ttl_cache_sees_virtual_time(self) -> None:
        """A TTL cache whose __init__ takes timer=time.monotonic expires on jump()."""
        with patch_time(self.clock, targets=[aliases]):
            cache = aliases.TTLCache(ttl=30)
            self.assertFalse(cache.expired())
            self.clock.jump(30)
            self.assertTrue(cache.expired())

    def test_class_attributes_and_methods(self) -> None:
        """Class attributes, staticmethod-wrapped functions and method defaults are rebound."""
        static_timer = vars(aliases.TTLCache)["static_timer"]
        with patch_time(self.clock, targets=[aliases]):
            cache = aliases.TTLCache(ttl=1)
            self.assertEqual(aliases.TTLCache.timer(), 1000.0)
            self.assertEqual(cache.static_timer(), 1000.0)
            self.assertEqual(aliases.TTLCache.static_now(), 1000.0)
            self.assertEqual(aliases.TTLCache.class_now(), 1000.0)
            self.clock.jump(2)
            self.assertEqual(cache.age, 2)
            self.assertEqual(aliases.TTLCache.Entry().stamp(), 1002 * 10**9)
        self.assertIs(aliases.TTLCache.timer, ORIGINALS["monotonic"])
        self.assertIs(vars(aliases.TTLCache)["static_timer"], static_timer)

    def test_package_includes_imported_submodules(self) -> None:
        """A package target covers its imported submodules, shadowed ones too."""
        hidden_module = sys.modules[f"{FIXTURES}.sub.hidden"]
        with patch_time(self.clock, targets=[FIXTURES]):
            self.assertEqual(deep.deep_perf_counter(), 1000.0)
            self.assertEqual(sub.deep_perf_counter(), 1000.0)
            self.assertEqual(sub.hidden(), 1000.0)
            self.assertEqual(aliases.monotonic(), 1000.0)
            from tests import timepatch_fixtures

            self.assertEqual(timepatch_fixtures.package_monotonic(), 1000.0)
        self.assertIs(hidden_module.hidden, sub.hidden)
        self.assertIs(sub.hidden.__defaults__[0], ORIGINALS["monotonic"])  # type: ignore[index]

    def test_target_named_but_not_imported_is_imported(self) -> None:
        """A dotted name not imported yet is imported, then scanned."""
        sys.modules.pop(f"{FIXTURES}.lazy", None)
        with patch_time(self.clock, targets=f"{FIXTURES}.lazy"):
            lazy = sys.modules[f"{FIXTURES}.lazy"]
            self.assertEqual(lazy.lazy_monotonic(), 1000.0)
        self.assertIs(lazy.lazy_monotonic, ORIGINALS["monotonic"])

    def test_standard_library_is_never_rebound(self) -> None:
        """threading and queue keep their captured real monotonic."""
        with patch_time(self.clock, targets=[aliases]):
            self.assertIs(threading._time, ORIGINALS["monotonic"])  # type: ignore[attr-defined]
            self.assertIs(queue.time, ORIGINALS["monotonic"])  # type: ignore[attr-defined]

    def test_wall_aliases(self) -> None:
        """With wall=, time.time aliases and defaults in targets read the wall time."""
        with patch_time(self.clock, targets=[aliases], wall=50):
            self.assertEqual(aliases.wall_time(), 50.0)
            self.assertEqual(aliases.stamp_wall(), 50.0)
        self.assertIs(aliases.wall_time, ORIGINALS["time"])

    def test_nested_patches_share_references(self) -> None:
        """A nested patch on the same targets keeps them rebound until the outer exits."""
        with patch_time(self.clock, targets=[aliases]):
            with patch_time(self.clock, targets=[aliases], wall=0):
                self.assertEqual(aliases.stamp_wall(), 0.0)
                self.assertEqual(aliases.deadline(1), 1001.0)
            self.assertIs(aliases.stamp_wall.__defaults__[0], ORIGINALS["time"])  # type: ignore[index]
            self.assertEqual(aliases.deadline(1), 1001.0)
            self.assertEqual(aliases.monotonic(), 1000.0)

    def test_patched_lists_what_was_rebound(self) -> None:
        """TimePatch.patched names each rebound reference and what it held."""
        with patch_time(self.clock, targets=[aliases]) as tp:
            patched = tp.patched
        self.assertIn(f"{FIXTURES}.aliases.monotonic (time.monotonic)", patched)
        self.assertIn(
            f"{FIXTURES}.aliases.TTLCache.__init__() default 'timer' (time.monotonic)", patched
        )
        self.assertIn(f"{FIXTURES}.aliases.stamp() default 'clock' (time.monotonic_ns)", patched)
        self.assertIn(f"{FIXTURES}.aliases.TTLCache.static_timer (time.perf_counter)", patched)
        self.assertNotIn(f"{FIXTURES}.aliases.wall_time (time.time)", patched)


class DiagnosticsTest(_Checks):
    """TimePatch.unpatched and report() list the references that could not be rebound."""

    def test_unpatched_lists_closures_and_containers(self) -> None:
        """Closure cells, containers, partials, instance attributes and tuple defaults."""
        prefix = f"{FIXTURES}.unpatchable"
        with patch_time(self.clock, targets=[unpatchable]) as tp:
            self.assertNotEqual(unpatchable.read(), 1000.0)
        self.assertEqual(
            sorted(tp.unpatched),
            sorted(
                [
                    (
                        f"{prefix}.read closure variable 'clock' holds time.monotonic "
                        "(closure cells are not rebound)"
                    ),
                    f"{prefix}.TIMERS[0] holds time.monotonic (a list item is not rebound)",
                    (
                        f"{prefix}.BY_NAME['perf'] holds time.perf_counter "
                        "(a dict item is not rebound)"
                    ),
                    (
                        f"{prefix}.PARTIAL.func holds time.monotonic "
                        "(a functools.partial item is not rebound)"
                    ),
                    (
                        f"{prefix}.DEFAULT_HOLDER.timer holds time.monotonic "
                        "(an instance attribute is not rebound)"
                    ),
                    (
                        f"{prefix}.with_tuple_default() default 'timers'[0] holds "
                        "time.monotonic (a tuple item is not rebound)"
                    ),
                ]
            ),
        )
        self.assertEqual(tp.patched, ())

    def test_report(self) -> None:
        """report() gives counts, then one line per reference, then advice."""
        with patch_time(self.clock, targets=[unpatchable, aliases]) as tp:
            report = tp.report()
        lines = report.splitlines()
        self.assertRegex(
            lines[0],
            rf"^patch_time: \d+ reference\(s\) rebound, 6 not patched, in targets "
            rf"\['{FIXTURES}.unpatchable', '{FIXTURES}.aliases'\]$",
        )
        self.assertIn(f"  rebound: {FIXTURES}.aliases.monotonic (time.monotonic)", lines)
        self.assertIn(
            f"  NOT patched: {FIXTURES}.unpatchable.TIMERS[0] holds time.monotonic "
            "(a list item is not rebound)",
            lines,
        )
        self.assertRegex(lines[-1], r"^  \(code that reaches a function through these keeps real time")

    def test_before_entry_scans_without_patching(self) -> None:
        """Asking before the first entry scans the targets and changes nothing."""
        tp = patch_time(self.clock, targets=[unpatchable, aliases])
        self.assertEqual(len(tp.unpatched), 6)
        self.assertIn(f"{FIXTURES}.aliases.monotonic (time.monotonic)", tp.patched)
        self.assertIs(aliases.monotonic, ORIGINALS["monotonic"])


class ExitPathTest(_Checks):
    """Every way out restores the very same objects."""

    def test_exception(self) -> None:
        """An exception in the block propagates, and everything is restored."""
        with self.assertRaisesRegex(ValueError, "^boom$"), patch_time(self.clock, targets=[aliases], wall=0):
            raise ValueError("boom")
        self.assertIsNone(self.clock._thread_id)

    def test_keyboard_interrupt(self) -> None:
        """KeyboardInterrupt in the block restores too."""
        with self.assertRaises(KeyboardInterrupt), patch_time(self.clock, targets=[aliases]):
            raise KeyboardInterrupt

    def test_generator_closed(self) -> None:
        """A generator left open inside the block restores when closed."""

        def ticks() -> Generator[float, None, None]:
            with patch_time(self.clock, targets=[aliases]):
                while True:
                    yield time.monotonic()

        gen = ticks()
        self.assertEqual(next(gen), 1000.0)
        self.assertIsNot(time.monotonic, ORIGINALS["monotonic"])
        gen.close()
        self.assertIs(time.monotonic, ORIGINALS["monotonic"])

    def test_generator_garbage_collected(self) -> None:
        """A generator left open and dropped restores when it is collected."""

        def ticks() -> Generator[float, None, None]:
            with patch_time(self.clock, targets=[aliases]):
                yield time.monotonic()

        gen = ticks()
        next(gen)
        del gen
        gc.collect()
        self.assertIs(time.monotonic, ORIGINALS["monotonic"])

    def test_nested_lifo_on_two_clocks(self) -> None:
        """The innermost clock wins on a thread; the outer one resumes after."""
        inner = VirtualClock(autojump=False, start=5)
        with patch_time(self.clock):
            with patch_time(inner):
                self.assertEqual(time.monotonic(), 5.0)
            self.assertEqual(time.monotonic(), 1000.0)

    def test_same_object_nested(self) -> None:
        """One TimePatch may be entered again inside itself."""
        patch = patch_time(self.clock, targets=[aliases])
        with patch, patch:
            self.assertEqual(aliases.monotonic(), 1000.0)
        self.assertRegex(repr(patch), r"active=0>$")

    def test_out_of_order_exit_still_restores(self) -> None:
        """Exiting the outer patch first leaves the inner one whole, then all restores."""
        outer = patch_time(self.clock, targets=[aliases])
        inner = patch_time(VirtualClock(autojump=False, start=3), targets=[aliases])
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)
        self.assertEqual(time.monotonic(), 3.0)
        self.assertEqual(aliases.deadline(1), 4.0)
        self.assertIsNone(self.clock._thread_id)
        inner.__exit__(None, None, None)

    def test_exit_without_enter(self) -> None:
        """__exit__ with no matching __enter__ says so."""
        patch = patch_time(self.clock)
        with self.assertRaisesRegex(RuntimeError, r"^<TimePatch .*> was exited more times than it was entered"):
            patch.__exit__(None, None, None)

    def test_interrupted_entry_rolls_back(self) -> None:
        """A KeyboardInterrupt while scanning the targets undoes the partial entry."""
        mod = types.ModuleType("tp_interrupting_fixture")
        exec(
            "class Trap:\n"
            "    @property\n"
            "    def __dict__(self):\n"
            "        raise KeyboardInterrupt\n"
            "TRAP = Trap()\n",
            vars(mod),
        )
        mod.Trap.__module__ = mod.__name__
        patch = patch_time(self.clock, targets=[aliases, mod])
        with self.assertRaises(KeyboardInterrupt):
            patch.__enter__()
        self.assertIsNone(self.clock._thread_id)
        self.assertRegex(repr(patch), r"active=0>$")


class DecoratorTest(_Checks):
    """patch_time decorates functions, methods and coroutine functions."""

    def test_function(self) -> None:
        """Each call of a decorated function runs under the patch."""
        clock = self.clock

        @patch_time(clock, targets=[aliases])
        def read(offset: float) -> float:
            """Docstring kept."""
            clock.jump(offset)
            return aliases.monotonic()

        self.assertEqual(read(1), 1001.0)
        self.assertEqual(read(1), 1002.0)
        self.assertEqual(read.__doc__, "Docstring kept.")

    def test_method(self) -> None:
        """A decorated method gets self."""
        clock = self.clock

        class Job:
            @patch_time(clock)
            def when(self) -> float:
                return time.monotonic()

        self.assertEqual(Job().when(), 1000.0)

    def test_exception_restores(self) -> None:
        """An exception from a decorated function restores and propagates."""

        @patch_time(self.clock)
        def fail() -> None:
            raise LookupError("no")

        with self.assertRaisesRegex(LookupError, "^no$"):
            fail()

    def test_coroutine_function(self) -> None:
        """The patch covers the coroutine's body across awaits, and only it."""
        clock = self.clock

        class Suspend:
            def __await__(self) -> Generator[None, None, None]:
                yield

        @patch_time(clock)
        async def body() -> list[float]:
            first = time.monotonic()
            await Suspend()
            clock.jump(1)
            return [first, time.monotonic()]

        coro = body()
        self.assertIs(time.monotonic, ORIGINALS["monotonic"])
        coro.send(None)
        self.assertIsNot(time.monotonic, ORIGINALS["monotonic"])
        with self.assertRaises(StopIteration) as stop:
            coro.send(None)
        self.assertEqual(stop.exception.value, [1000.0, 1001.0])

    def test_refuses_what_it_cannot_cover(self) -> None:
        """Generator functions, classes and non-callables are refused."""
        patch = patch_time(self.clock)

        def gen() -> Generator[int, None, None]:
            yield 1

        with self.assertRaisesRegex(TypeError, r"^patch_time\(\) cannot decorate the generator function"):
            patch(gen)
        with self.assertRaisesRegex(TypeError, r"^patch_time\(\) decorates functions and methods; got"):
            patch(int)
        with self.assertRaisesRegex(TypeError, r"^patch_time\(\) decorates functions and methods; got"):
            patch(3)  # type: ignore[type-var]


class BadInputTest(_Checks):
    """Bad arguments fail at once with a message that says what to do."""

    def test_clock_of_wrong_type(self) -> None:
        """Only a VirtualClock is accepted."""
        with self.assertRaisesRegex(
            TypeError, r"^patch_time\(\) needs an asynctestkit.VirtualClock as its clock; got 3 \(int\)"
        ):
            patch_time(3)  # type: ignore[arg-type]

    def test_unknown_target(self) -> None:
        """A name that cannot be imported fails on entry, leaving nothing patched."""
        patch = patch_time(self.clock, targets=["no_such_module_for_timepatch"])
        with self.assertRaisesRegex(
            ModuleNotFoundError,
            r"^patch_time\(targets=\.\.\.\) names 'no_such_module_for_timepatch', which cannot be imported",
        ):
            patch.__enter__()

    def test_target_not_a_module(self) -> None:
        """A target that is neither a module nor a name is a TypeError."""
        with self.assertRaisesRegex(
            TypeError, r"^patch_time\(targets=\.\.\.\) takes module objects or dotted module names; got 3 \(int\) at position 1$"
        ):
            patch_time(self.clock, targets=[aliases, 3])  # type: ignore[list-item]

    def test_sys_modules_entry_not_a_module(self) -> None:
        """A name whose sys.modules entry is not a module is a TypeError on entry."""
        sys.modules["tp_not_a_module"] = object()  # type: ignore[assignment]
        self.addCleanup(sys.modules.pop, "tp_not_a_module")
        with self.assertRaisesRegex(TypeError, r"^patch_time\(targets=\.\.\.\) names 'tp_not_a_module', but"):
            patch_time(self.clock, targets="tp_not_a_module").__enter__()

    def test_refused_targets(self) -> None:
        """The standard library, asynctestkit and relative names are refused."""
        cases: list[tuple[Any, str]] = [
            ("threading", r"^patch_time\(targets=\.\.\.\) refuses 'threading': the standard library is never rebound"),
            (time, r"^patch_time\(targets=\.\.\.\) refuses 'time': the standard library"),
            ("asynctestkit._virtual._loop", r"^patch_time\(targets=\.\.\.\) refuses 'asynctestkit._virtual._loop': asynctestkit itself"),
            (".relative", r"^patch_time\(targets=\.\.\.\) needs absolute dotted module names; got '.relative'"),
        ]
        for target, message in cases:
            with self.subTest(target=target), self.assertRaisesRegex(ValueError, message):
                patch_time(self.clock, targets=[target])

    def test_naive_datetime_in_a_daylight_saving_gap(self) -> None:
        """A naive local time that the clocks skip names no instant and is refused."""
        set_local_timezone(self, EASTERN)
        with self.assertRaisesRegex(
            ValueError,
            r"^patch_time\(wall=\.\.\.\) got the naive datetime.datetime\(2024, 3, 10, 2, 30\), "
            r"which does not exist in the local time zone",
        ):
            patch_time(self.clock, wall=datetime.datetime(2024, 3, 10, 2, 30))

    def test_bad_wall(self) -> None:
        """wall= takes a bool, a finite timestamp or a datetime that names an instant."""

        class NoOffset(datetime.tzinfo):
            def utcoffset(self, dt: datetime.datetime | None) -> None:
                return None

            def dst(self, dt: datetime.datetime | None) -> None:
                return None

            def tzname(self, dt: datetime.datetime | None) -> None:
                return None

        cases: list[tuple[object, type[Exception], str]] = [
            ("yes", TypeError, r"^patch_time\(wall=\.\.\.\) takes True, False, a timestamp in seconds or a datetime.datetime; got 'yes' \(str\)$"),
            (datetime.date(2020, 1, 1), TypeError, r"got datetime.date\(2020, 1, 1\) \(date\)$"),
            (float("nan"), ValueError, r"^patch_time\(wall=\.\.\.\) needs a finite timestamp; got nan$"),
            (1e20, ValueError, r"^patch_time\(wall=\.\.\.\) got timestamp 1e\+20, outside what datetime can represent$"),
            (
                datetime.datetime(2020, 1, 1, tzinfo=NoOffset()),
                ValueError,
                r"whose tzinfo gives no UTC offset: it is neither naive nor aware",
            ),
        ]
        for wall, error, message in cases:
            with self.subTest(wall=wall), self.assertRaisesRegex(error, message):
                patch_time(self.clock, wall=wall)  # type: ignore[arg-type]


if __name__ == "__main__":
    unittest.main()
