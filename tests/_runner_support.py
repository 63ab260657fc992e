"""Generated test trees and ways to run them, for the runner's tests."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from asynctestkit._runner._cli import main

ROOT = str(Path(__file__).resolve().parent.parent)

# A tree with every kind of outcome, module and class fixtures, output, and an async test.
MIXED = {
    "test_alpha.py": '''
        import unittest

        class Alpha(unittest.TestCase):
            def test_ok(self):
                pass

            def test_fail(self):
                """A docstring, shown with -v."""
                self.assertEqual(1, 2)

            def test_error(self):
                raise ValueError("boom")

            def test_skip(self):
                self.skipTest("not today")

            @unittest.skip("never")
            def test_skip_decorated(self):
                pass

            @unittest.expectedFailure
            def test_xfail(self):
                self.assertTrue(False)

            @unittest.expectedFailure
            def test_xpass(self):
                pass

            def test_subtests(self):
                for i in range(3):
                    with self.subTest(i=i):
                        self.assertNotEqual(i, 1)

            def test_prints(self):
                print("hello from alpha")
    ''',
    "test_beta.py": '''
        import unittest
        from asynctestkit import AsyncTestCase

        EVENTS = []

        def setUpModule():
            EVENTS.append("module")

        class Beta(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                EVENTS.append("class")

            def test_fixtures_ran_once(self):
                self.assertEqual(EVENTS, ["module", "class"])

        class BetaAsync(AsyncTestCase):
            slow_callback_duration = None  # no SlowCallbackWarning on a loaded machine

            async def test_async(self):
                self.assertEqual(EVENTS, ["module", "class"])
    ''',
    "test_gamma.py": '''
        import unittest

        class Gamma(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                raise RuntimeError("class fixture broke")

            def test_never_runs(self):
                pass

        class Delta(unittest.TestCase):
            def test_one(self):
                pass

            def test_two(self):
                pass
    ''',
}


def write_tree(files: dict[str, str]) -> str:
    """Write ``files`` (name: source) into a new temporary directory and return it."""
    directory = tempfile.mkdtemp(prefix="atk-runner-")
    for name, source in files.items():
        path = Path(directory, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return directory


def cleanup_tree(directory: str) -> None:
    """Remove a tree and forget the modules imported from it."""
    import shutil

    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(directory):
            del sys.modules[name]
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _inside(directory: str):  # type: ignore[no-untyped-def]
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(directory)
    sys.path.insert(0, directory)  # as `python -m` puts the current directory first
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(directory):
                del sys.modules[name]


def run_here(directory: str, *args: str, unittest_main: bool = False) -> tuple[int, str, str]:
    """Run ``python -m asynctestkit ARGS`` (or ``python -m unittest``) in this process.

    Returns:
        (exit code, stdout, stderr).
    """
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _inside(directory), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if unittest_main:
                unittest.main(module=None, argv=["python -m unittest", *args], testLoader=unittest.TestLoader())
            else:
                main(["python -m asynctestkit", *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)  # as the interpreter does
    return code, out.getvalue(), err.getvalue()


def env() -> dict[str, str]:
    """The environment for a subprocess that imports asynctestkit from this checkout."""
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path)


def run_cli(directory: str, module: str, *args: str) -> subprocess.Popen[str]:
    """Start ``python -m MODULE ARGS`` in ``directory`` (stdout and stderr piped)."""
    flags = [f"-W{option}" for option in sys.warnoptions]
    return subprocess.Popen(
        [sys.executable, *flags, "-m", module, *args], cwd=directory, env=env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


_RAN = re.compile(r"^Ran (\d+) tests? in \d+\.\d+s$", re.MULTILINE)


def without_timing(text: str) -> str:
    """The output with the run's time taken out of the ``Ran N tests in X s`` line."""
    return _RAN.sub(r"Ran \1 tests", text)


def result_lines(text: str) -> list[str]:
    """The -v result lines and the failure blocks of an output, sorted (order differs under -j)."""
    body = text.rpartition("-" * 70 + "\nRan ")[0]
    head, *blocks = body.split("=" * 70 + "\n")
    return sorted(head.splitlines()) + sorted(blocks)


_OUTCOME = re.compile(
    r"^(?:.*) \.\.\. (?:ok|FAIL|ERROR|skipped .*|expected failure|unexpected success)$", re.MULTILINE
)


def outcome_lines(text: str) -> list[str]:
    """The -v lines that give a test's outcome, sorted (what else a test printed left out)."""
    return sorted(match.group() for match in _OUTCOME.finditer(text))


def summary(text: str) -> list[str]:
    """The ``Ran N tests`` line (without the time) and the verdict line."""
    return without_timing(text).rstrip().splitlines()[-3:]
