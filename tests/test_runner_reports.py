"""The runner's shards, durations file and JUnit XML report; its units and its worker's wire."""

from __future__ import annotations

import io
import json
import os
import unittest
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from asynctestkit._runner._units import (
    Unit,
    balanced_shards,
    flatten,
    hashed_shard,
    load_durations,
    make_units,
    save_durations,
)
from asynctestkit._runner._wire import read_frame, write_frame
from asynctestkit._runner._worker import WorkerResult
from tests._runner_support import MIXED, cleanup_tree, run_here, write_tree

DISCOVER = ("discover", "-s", ".", "-t", ".")

# Six classes in three modules, one with module fixtures (one unit), for shards.
SHARDED = {
    f"test_mod{m}.py": "import unittest\n\n"
    + ("def setUpModule():\n    pass\n\n" if m == 0 else "")
    + "".join(
        f"class C{m}{c}(unittest.TestCase):\n" + "".join(f"    def test_{t}(self):\n        pass\n" for t in range(3))
        for c in range(2)
    )
    for m in range(3)
}
ALL_SHARDED = {f"test_mod{m}.C{m}{c}.test_{t}" for m in range(3) for c in range(2) for t in range(3)}


def junit_ids(path: str) -> Counter[str]:
    """The ``classname.name`` of every testcase in a JUnit XML file, counted."""
    root = ET.parse(path).getroot()
    return Counter(f"{case.get('classname')}.{case.get('name')}" for case in root.iter("testcase"))


class ShardTest(unittest.TestCase):
    """Shards together run every test exactly once."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tree = write_tree(SHARDED)
        cls.addClassCleanup(cleanup_tree, cls.tree)

    def _run_shards(self, total: int, *extra: str, jobs: tuple[str, ...] = ()) -> list[Counter[str]]:
        shards = []
        for index in range(1, total + 1):
            report = str(Path(self.tree, f"shard{index}.xml"))
            code, _, err = run_here(self.tree, *DISCOVER, "--shard", f"{index}/{total}", "--junit-xml", report,
                                    *extra, *jobs)
            self.assertIn(code, (0, 5), err)  # 5: a shard with no test (3.12+)
            shards.append(junit_ids(report))
        return shards

    def test_shards_cover_every_test_once(self) -> None:
        """--shard 1/3 .. 3/3: each test in exactly one shard; a module with fixtures stays whole."""
        shards = self._run_shards(3)
        together = sum(shards, Counter())
        self.assertEqual(set(together), ALL_SHARDED)
        self.assertEqual(set(together.values()), {1})
        with_fixture = [i for i, shard in enumerate(shards) if any(t.startswith("test_mod0.") for t in shard)]
        self.assertEqual(len(with_fixture), 1)

    def test_shards_with_workers(self) -> None:
        """Shards and -j together: still every test once."""
        together = sum(self._run_shards(2, jobs=("-j", "2")), Counter())
        self.assertEqual(set(together), ALL_SHARDED)
        self.assertEqual(set(together.values()), {1})

    def test_bazel_variables(self) -> None:
        """TEST_TOTAL_SHARDS/TEST_SHARD_INDEX (0-based) split the same way; the status file is touched."""
        status = Path(self.tree, "status")
        seen: Counter[str] = Counter()
        saved = {k: os.environ.get(k) for k in ("TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX", "TEST_SHARD_STATUS_FILE")}
        self.addCleanup(_restore_env, saved)
        for index in range(2):
            os.environ.update(TEST_TOTAL_SHARDS="2", TEST_SHARD_INDEX=str(index), TEST_SHARD_STATUS_FILE=str(status))
            report = str(Path(self.tree, f"bazel{index}.xml"))
            run_here(self.tree, *DISCOVER, "--junit-xml", report)
            seen += junit_ids(report)
        self.assertTrue(status.exists())
        self.assertEqual(set(seen), ALL_SHARDED)
        self.assertEqual(set(seen.values()), {1})
        os.environ.update(TEST_TOTAL_SHARDS="2", TEST_SHARD_INDEX="2")
        code, _, err = run_here(self.tree, *DISCOVER)
        self.assertEqual(code, 1)
        self.assertIn("expected a total >= 1 and an index from 0 to total - 1", err)

    def test_durations_file_records_then_balances(self) -> None:
        """--durations-file: one run records every test; the next splits by those seconds."""
        path = str(Path(self.tree, "durations.json"))
        code, _, _ = run_here(self.tree, *DISCOVER, "--durations-file", path)
        self.assertEqual(code, 0)
        recorded = load_durations(path)
        self.assertEqual(set(recorded), ALL_SHARDED)
        self.assertTrue(all(seconds >= 0 for seconds in recorded.values()))
        # Pretend one class is slow: it gets a shard of its own, everything else the other.
        slow = {t: (10.0 if ".C11." in t else 0.1) for t in ALL_SHARDED}
        Path(path).write_text(json.dumps({"version": 1, "durations": slow}), encoding="utf-8")
        shards = self._run_shards(2, "--durations-file", path)
        alone = next(shard for shard in shards if any(".C11." in t for t in shard))
        self.assertEqual(set(alone), {t for t in ALL_SHARDED if ".C11." in t})
        # The run recorded real durations again, for every test, over the fake ones.
        self.assertLess(max(load_durations(path).values()), 10.0)


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class JUnitTest(unittest.TestCase):
    """--junit-xml: every field, read back with xml.etree."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tree = write_tree(MIXED)
        cls.addClassCleanup(cleanup_tree, cls.tree)

    def _report(self, *args: str) -> ET.Element:
        path = str(Path(self.tree, "out", "report.xml"))
        code, _, _ = run_here(self.tree, *DISCOVER, "-b", "--junit-xml", path, *args)
        self.assertEqual(code, 1)
        return ET.parse(path).getroot()

    def _check(self, root: ET.Element) -> None:
        self.assertEqual(root.tag, "testsuites")
        self.assertEqual(
            {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")},
            {"tests": "14", "failures": "3", "errors": "2", "skipped": "2"},
        )
        cases = {f"{c.get('classname')}.{c.get('name')}": c for c in root.iter("testcase")}
        for case in cases.values():
            self.assertGreaterEqual(float(case.get("time", "-1")), 0.0)
        ok = cases["test_alpha.Alpha.test_ok"]
        self.assertEqual(list(ok), [])
        fail = cases["test_alpha.Alpha.test_fail"].find("failure")
        assert fail is not None
        self.assertEqual(fail.get("message"), "AssertionError: 1 != 2")
        self.assertEqual(fail.get("type"), "AssertionError")
        self.assertIn("Traceback (most recent call last):", fail.text or "")
        self.assertIn("self.assertEqual(1, 2)", fail.text or "")
        error = cases["test_alpha.Alpha.test_error"].find("error")
        assert error is not None
        self.assertEqual(error.get("message"), "ValueError: boom")
        skipped = cases["test_alpha.Alpha.test_skip"].find("skipped")
        assert skipped is not None
        self.assertEqual(skipped.get("message"), "not today")
        subtest = cases["test_alpha.Alpha.test_subtests"].find("failure")
        assert subtest is not None
        self.assertIn("(i=1)", subtest.get("message", ""))
        xpass = cases["test_alpha.Alpha.test_xpass"].find("failure")
        assert xpass is not None
        self.assertEqual(xpass.get("message"), "unexpected success")
        fixture = cases["test_gamma.Gamma.setUpClass"].find("error")
        assert fixture is not None
        self.assertEqual(fixture.get("message"), "RuntimeError: class fixture broke")
        out = cases["test_alpha.Alpha.test_prints"].find("system-out")
        assert out is not None
        self.assertEqual(out.text, "hello from alpha\n")
        suites = {s.get("name"): s for s in root.iter("testsuite")}
        self.assertEqual(suites["test_gamma.Delta"].get("tests"), "2")
        self.assertEqual(suites["test_alpha.Alpha"].get("failures"), "3")

    def test_serial(self) -> None:
        """Serial: classname, name, time, failure/error message and traceback, skip reason, -b output."""
        self._check(self._report())

    def test_workers(self) -> None:
        """-j 2: the same report from the workers' records."""
        self._check(self._report("-j", "2"))


class UnitsTest(unittest.TestCase):
    """Units, shards and the durations file, in this process."""

    def test_units_keep_classes_and_module_fixtures_together(self) -> None:
        """A class is a unit; a module with setUpModule is one unit; order is kept."""
        tree = write_tree(SHARDED)
        self.addCleanup(cleanup_tree, tree)
        loader = unittest.TestLoader()
        tests = flatten(loader.discover(tree, top_level_dir=tree))
        self.addCleanup(_forget, tree)
        units = make_units(tests)
        self.assertEqual([u.key for u in units], ["test_mod0", "test_mod1.C10", "test_mod1.C11", "test_mod2.C20", "test_mod2.C21"])
        self.assertEqual(sum(len(u.indices) for u in units), 18)

    def test_wrapped_tests_stand_alone(self) -> None:
        """FunctionTestCases and doctests share a class but no fixture: a unit each."""
        import doctest

        parser = doctest.DocTestParser()
        tests: list[unittest.TestCase] = [unittest.FunctionTestCase(lambda: None)]
        for name in ("first", "second"):
            tests.append(doctest.DocTestCase(parser.get_doctest(">>> 6 * 7\n42\n", {}, name, None, 0)))
        self.assertEqual(len(make_units(tests)), 3)

    def test_hash_is_stable(self) -> None:
        """The hashed shard depends only on the unit's name."""
        self.assertEqual([hashed_shard(Unit(f"m.C{i}"), 4) for i in range(6)],
                         [hashed_shard(Unit(f"m.C{i}", [1], ["x"]), 4) for i in range(6)])

    def test_balanced_longest_first(self) -> None:
        """Greedy bin packing: the longest unit first, each to the lightest shard; order kept within."""
        units = [Unit(k, [i], [k]) for i, k in enumerate("abcde")]
        durations = {"a": 1.0, "b": 5.0, "c": 3.0, "d": 2.0, "e": 2.0}
        shards = balanced_shards(units, 2, durations)
        self.assertEqual([[u.key for u in s] for s in shards], [["b", "e"], ["a", "c", "d"]])
        # A test not in the file counts as the median.
        self.assertEqual(units[0].weight({}, 0.5), 0.5)

    def test_durations_file_errors_and_merge(self) -> None:
        """A bad file is refused with what to do; saving merges with what other shards recorded."""
        tree = write_tree({"bad.json": "[1, 2]", "worse.json": "{"})
        self.addCleanup(cleanup_tree, tree)
        for name in ("bad.json", "worse.json"):
            with self.subTest(name=name), self.assertRaisesRegex(ValueError, "Delete it|delete it"):
                load_durations(str(Path(tree, name)))
        path = str(Path(tree, "d.json"))
        self.assertEqual(load_durations(path), {})
        save_durations(path, {"a": 1.0})
        save_durations(path, {"b": 2.0})
        self.assertEqual(load_durations(path), {"a": 1.0, "b": 2.0})


def _forget(directory: str) -> None:
    import sys

    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(directory):
            del sys.modules[name]
    while directory in sys.path:
        sys.path.remove(directory)


class WorkerWireTest(unittest.TestCase):
    """What a worker sends for each kind of outcome (run here, into a pipe)."""

    def test_frames(self) -> None:
        """start/test frames carry id, events with formatted errors, time; fixture errors are orphans."""

        class Inner(unittest.TestCase):
            def test_fail(self) -> None:
                self.assertEqual(1, 2)

            @unittest.skip("why")
            def test_skipped(self) -> None:
                pass

        class Broken(unittest.TestCase):
            @classmethod
            def setUpClass(cls) -> None:
                raise RuntimeError("no")

            def test_x(self) -> None:
                pass

        channel = io.BytesIO()
        tests = [Inner("test_fail"), Inner("test_skipped"), Broken("test_x")]
        result = WorkerResult(channel, {id(t): i for i, t in enumerate(tests)})  # type: ignore[arg-type]
        unittest.TestSuite(tests).run(result)
        channel.seek(0)
        frames = []
        while True:
            try:
                frames.append(read_frame(channel))
            except EOFError:
                break
        kinds = [f[0] for f in frames]
        self.assertEqual(kinds[:2], ["start", "test"])
        fail = frames[1]
        self.assertEqual(fail[1], 0)
        self.assertTrue(fail[2][0].endswith("Inner.test_fail"))
        event = fail[3][0]
        self.assertEqual(event[0], "addFailure")
        self.assertEqual(event[1][0], "failure")
        self.assertIn("AssertionError: 1 != 2", event[1][1])
        self.assertEqual(event[1][2], "AssertionError: 1 != 2")
        self.assertTrue(fail[7])  # started
        skip = next(f for f in frames if f[0] == "test" and f[1] == 1)
        self.assertIn(("addSkip", "why"), skip[3])
        orphan = next(f for f in frames if f[0] == "orphan")
        self.assertTrue(orphan[1][0].startswith("setUpClass ("))
        self.assertEqual(orphan[2][0][1][2], "RuntimeError: no")

    def test_worker_main(self) -> None:
        """A worker discovers the tree, runs the units it is sent (by index, else by id) and says which it cannot find."""
        import faulthandler
        import sys

        from asynctestkit._runner import _worker

        tree = write_tree(SHARDED)
        self.addCleanup(cleanup_tree, tree)
        self.addCleanup(_forget, tree)
        commands = io.BytesIO()
        write_frame(commands, ("spec", {
            "argv": ["python -m asynctestkit", "discover", "-s", tree, "-t", tree, "-k", "C11"],
            "path": list(sys.path), "buffer": True, "tb_locals": False, "warnings": None,
        }))
        write_frame(commands, ("run", "first", [(0, "test_mod1.C11.test_0"), (0, "test_mod1.C11.test_2")]))
        write_frame(commands, ("run", "second", [(5, "test_mod9.Gone.test_x")]))
        write_frame(commands, ("exit",))
        commands.seek(0)
        read_end, write_end = os.pipe()
        saved = (sys.argv, sys.stdin, list(sys.path), faulthandler.is_enabled())
        sys.argv = ["worker", str(write_end)]
        sys.stdin = io.TextIOWrapper(commands)
        try:
            _worker.main()
        finally:
            sys.argv, sys.stdin, sys.path[:], enabled = saved
            if not enabled:
                faulthandler.disable()
        with os.fdopen(read_end, "rb") as stream:
            frames = []
            while True:
                try:
                    frames.append(read_frame(stream))
                except EOFError:
                    break
        self.assertEqual(frames[0], ("ready", 3))
        ran = [f[2][0] for f in frames if f[0] == "test"]
        self.assertEqual(ran, ["test_mod1.C11.test_0", "test_mod1.C11.test_2"])
        missing = next(f for f in frames if f[0] == "orphan")
        self.assertEqual(missing[1][0], "test_mod9.Gone.test_x")
        self.assertIn("was not found in the worker process", missing[2][0][1][1])
        self.assertEqual([f[1] for f in frames if f[0] == "done"], ["first", "second"])

    def test_wire_round_trip(self) -> None:
        """A frame reads back as written; a stream cut short is EOFError."""
        stream = io.BytesIO()
        write_frame(stream, ("x", [1, 2.5, None, "é"]))
        data = stream.getvalue()
        self.assertEqual(read_frame(io.BytesIO(data)), ("x", [1, 2.5, None, "é"]))
        with self.assertRaises(EOFError):
            read_frame(io.BytesIO(data[:-1]))


if __name__ == "__main__":
    unittest.main()
