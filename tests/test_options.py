"""Class options: one table, checked when the class is made and by configure()."""

from __future__ import annotations

import asyncio
import threading
import unittest
from typing import Any

from asynctestkit import AsyncTestCase, ClockedTestCase, configure
from asynctestkit._testcase._options import OPTIONS, check_class
from tests._support import assert_refused, run_test


class MisspeltOptionTest(unittest.TestCase):
    """A class attribute that looks like a misspelt option raises, with a suggestion."""

    def test_misspellings_from_the_issue(self) -> None:
        """autojmp, check_task and clock_budgte each name the option they look like."""
        with assert_refused(self,
            TypeError,
            r"^Test\.autojmp is not an option of ClockedTestCase; did you mean 'autojump'\? \(a class "
            r"attribute this close to an option's name is taken for a misspelling; if it is yours, "
            r"give it another name or a leading underscore\)$",
        ):
            class Test(ClockedTestCase):
                autojmp = False

        with assert_refused(self,
            TypeError, r"^Test\.check_task is not an option of AsyncTestCase; did you mean 'check_tasks'\? "
        ):
            class Test(AsyncTestCase):  # type: ignore[no-redef]
                check_task = False

        with assert_refused(self, TypeError, r"^Test\.clock_budgte is not an option of ClockedTestCase; "
                                               r"did you mean 'clock_budget'\? "):
            class Test(ClockedTestCase):  # type: ignore[no-redef]
                clock_budgte = 10

        with assert_refused(self, TypeError, r"^Test\.check_task is not an option .* 'check_tasks'\?"):
            class Test(AsyncTestCase):  # type: ignore[no-redef]
                check_task = "no"  # a value no option takes is still a typo when it looks like one

    def test_users_own_attributes_pass(self) -> None:
        """Names far from every option, private names, non-option-like values and methods are the user's."""

        class Test(ClockedTestCase):
            retries = 3
            _autojmp = True  # private: never an option
            timeouts = [1, 2]  # close to timeout, but no option takes a list
            clock_started_at = 5.0  # overrides what a base class has: not a typo

            def check_task(self) -> None:  # a method, not an option
                pass

            async def test_it(self) -> None:
                pass

        self.assertTrue(run_test(Test("test_it")).wasSuccessful())


class WrongValueTest(unittest.TestCase):
    """A wrong value raises TypeError or ValueError naming the option, expected and got."""

    def assert_refused(self, base: type, name: str, value: Any, error: type[Exception], pattern: str) -> None:
        with self.subTest(name=name, value=value), \
                assert_refused(self, error, rf"^Test\.{name} must be {pattern}; got "):
            type("Test", (base,), {name: value})

    def test_timeout(self) -> None:
        """timeout takes a positive, finite number or None: not -1, 0, "10", NaN, inf or True."""
        expected = r"a positive, finite number of seconds, or None \(no limit\)"
        for value, error in ((-1, ValueError), (0, ValueError), ("10", TypeError),
                             (float("nan"), ValueError), (float("inf"), ValueError), (True, TypeError)):
            self.assert_refused(AsyncTestCase, "timeout", value, error, expected)
        with assert_refused(self, TypeError, r"^Test\.timeout must be .*; got '10' \(str\)$"):
            class Test(AsyncTestCase):
                timeout = "10"  # type: ignore[assignment]

        with assert_refused(self, ValueError, r"^Test\.timeout must be .*; got -1 \(int\)$"):
            class Test(AsyncTestCase):  # type: ignore[no-redef]
                timeout = -1

    def test_slow_callback_duration(self) -> None:
        """slow_callback_duration: not negative, NaN or a string."""
        expected = r"a non-negative, finite number of seconds, or None \(not checked\)"
        for value, error in ((-0.1, ValueError), (float("nan"), ValueError), ("0.1", TypeError)):
            self.assert_refused(AsyncTestCase, "slow_callback_duration", value, error, expected)

    def test_switches_loop_scope_and_debug(self) -> None:
        """check_* = "no", debug = "yes" are TypeErrors; loop_scope = "module" a ValueError."""
        for name in ("check_tasks", "check_exceptions", "check_coroutines", "check_timers",
                     "check_threads", "slow_callback_fails"):
            self.assert_refused(AsyncTestCase, name, "no", TypeError, "True or False")
        self.assert_refused(AsyncTestCase, "debug", "yes", TypeError, "True or False")
        self.assert_refused(AsyncTestCase, "loop_scope", "module", ValueError,
                            r"'test' \(a new loop per test\) or 'class' \(one loop for the whole class\)")
        self.assert_refused(AsyncTestCase, "loop_factory", 42, TypeError, "None .*")

    def test_clock_options(self) -> None:
        """The ClockedTestCase options are checked as VirtualClock and patch_time check them."""
        self.assert_refused(ClockedTestCase, "autojump", 1, TypeError, "True or False")
        self.assert_refused(ClockedTestCase, "clock_start", None, TypeError, "a non-negative, finite .*")
        self.assert_refused(ClockedTestCase, "clock_budget", -5, ValueError, "a non-negative, finite .*")
        self.assert_refused(ClockedTestCase, "time_targets", [42], TypeError, "modules or absolute .*")
        self.assert_refused(ClockedTestCase, "time_targets", [".rel"], ValueError, "modules or absolute .*")
        self.assert_refused(ClockedTestCase, "time_wall", "now", TypeError, "False, True, .*")

    def test_an_option_set_on_a_mixin_is_checked(self) -> None:
        """An option a test class inherits from a plain mixin is checked too."""

        class Mixin:
            timeout = -1

        with assert_refused(self, ValueError, r"^Test\.timeout must be .*; got -1 \(int\)$"):
            class Test(Mixin, AsyncTestCase):
                pass

    def test_good_values_pass(self) -> None:
        """Every value the docs promise is taken."""

        class Test(ClockedTestCase):
            timeout = 5
            slow_callback_duration = 0
            check_tasks = False
            clock_start = 100
            clock_budget = None
            time_targets = ("tests._subjects",)
            time_wall = 1_700_000_000
            loop_scope = "class"

        class Plain(AsyncTestCase):
            timeout = None
            slow_callback_duration = None
            loop_factory = asyncio.SelectorEventLoop

        self.assertEqual((Test.timeout, Plain.timeout), (5, None))

    def test_clocked_options_on_an_async_test_case(self) -> None:
        """autojump on an AsyncTestCase, as attribute or through configure, says where it belongs."""
        with assert_refused(self,
            TypeError,
            r"^Test\.autojump: autojump is an option of ClockedTestCase, and this class is an "
            r"AsyncTestCase; derive the class from ClockedTestCase, or remove it$",
        ):
            class Test(AsyncTestCase):
                autojump = False

        with assert_refused(self, TypeError, r"^Test\.test_it: @configure\(clock_budget=\.\.\.\): "
                                               r"clock_budget is an option of ClockedTestCase"):
            class Test(AsyncTestCase):  # type: ignore[no-redef]
                @configure(clock_budget=5)
                async def test_it(self) -> None:
                    pass


class ConfigureTest(unittest.TestCase):
    """configure(): the same checks, for one test."""

    def test_wrong_values(self) -> None:
        """A wrong value raises when the decorator is applied, naming the option."""
        with self.assertRaisesRegex(ValueError, r"^configure\(timeout=\.\.\.\) must be a positive, finite "
                                                r"number of seconds, or None \(no limit\); got nan \(float\)$"):
            configure(timeout=float("nan"))
        with self.assertRaisesRegex(TypeError, r"^configure\(check_threads=\.\.\.\) must be True or False; "
                                               r"got 'no' \(str\)$"):
            configure(check_threads="no")

    def test_class_wide_options_are_refused(self) -> None:
        """loop_scope and loop_factory apply to a whole class: configure() says so."""
        for name, value in (("loop_scope", "class"), ("loop_factory", None)):
            with self.assertRaisesRegex(TypeError, rf"^configure\(\) cannot set {name}: it applies to the "
                                                   rf"whole class \(its tests share it\); set {name} on the class$"):
                configure(**{name: value})

    def test_suggestions_leave_out_class_wide_options(self) -> None:
        """The list of known options is what configure() takes."""
        with self.assertRaisesRegex(TypeError, r"^configure\(\) got an unknown option 'loop'; "):
            configure(loop=1)
        try:
            configure(zzz=1)
        except TypeError as exc:
            self.assertNotIn("loop_scope", str(exc))


class TableTest(unittest.TestCase):
    """The table is the one place: the classes' defaults and annotations match it."""

    def test_defaults_are_on_the_classes(self) -> None:
        """Each option's default is what its class holds."""
        for option in OPTIONS.values():
            with self.subTest(option=option):
                owner = {"AsyncTestCase": AsyncTestCase, "ClockedTestCase": ClockedTestCase}[option.owner]
                self.assertEqual(getattr(owner, option.attribute), option.default)
                self.assertIn(option.name, repr(option))

    def test_every_annotated_option_is_in_the_table(self) -> None:
        """A public annotation on the classes that is not an option would be checked by no one."""
        not_options = {"clock", "clock_started_at"}
        for cls in (AsyncTestCase, ClockedTestCase):
            names = {n for n in vars(cls).get("__annotations__", {}) if not n.startswith("_")}
            self.assertLessEqual(names - not_options, set(OPTIONS), cls)

    def test_the_base_classes_pass_their_own_check(self) -> None:
        """The defaults pass the checks (the classes themselves are checked like a user's)."""
        check_class(AsyncTestCase)
        check_class(ClockedTestCase)

    def test_loop_factory_is_typed_as_typeshed_types_isolated_asyncio_test_case(self) -> None:
        """The annotation mypy reads (see tests/typecheck_user_case.py): not a ClassVar, which 3.13+ refuse."""
        annotation = vars(AsyncTestCase)["__annotations__"]["loop_factory"]
        self.assertEqual(annotation, "Callable[[], asyncio.AbstractEventLoop] | None")


class BothWatchdogsTest(unittest.TestCase):
    """timeout means the same to the SIGALRM watchdog (main thread) and the timer-thread fallback."""

    def in_thread(self, func: Any) -> Any:
        """Return what ``func()`` returns, or the exception it raises, run on another thread."""
        outcome: list[Any] = []

        def target() -> None:
            try:
                outcome.append(func())
            except Exception as exc:
                outcome.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join(10)
        return outcome[0]

    def test_wrong_values_raise_the_same_on_any_thread(self) -> None:
        """0, which SIGALRM would read as "no limit" and a timer thread as "at once", is refused on both."""

        def make() -> type:
            class Test(AsyncTestCase):
                timeout = 0

            return Test

        def decorate() -> None:
            configure(timeout=-1)

        with assert_refused(self, ValueError, r"^Test\.timeout must be a positive, finite number of seconds"):
            made = make()  # noqa: F841  # kept alive until checked
        pattern = r"^configure\(timeout=\.\.\.\) must be a positive, finite"
        with self.assertRaisesRegex(ValueError, pattern):
            decorate()
        error = self.in_thread(decorate)
        self.assertIsInstance(error, ValueError)
        self.assertRegex(str(error), pattern)

    def test_a_valid_timeout_stops_a_hang_on_both(self) -> None:
        """The same small timeout stops a hung test on the main thread and on another one."""

        class Test(AsyncTestCase):
            @configure(timeout=0.1)
            async def test_it(self) -> None:
                await asyncio.Event().wait()

        for result in (run_test(Test("test_it")), self.in_thread(lambda: run_test(Test("test_it")))):
            [(_, text)] = result.failures
            self.assertRegex(text, r"(?m)^AssertionError: The test ran longer than its timeout of 0\.1 s ")


if __name__ == "__main__":
    unittest.main()
