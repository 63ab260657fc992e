"""Every ```python snippet of README.md and docs/*.md runs and passes, as an installed user runs it.

The snippets run in a child interpreter (isolated: ``-I -S``) whose working
directory is a new temporary directory and whose path holds the standard
library and a copy of the ``asynctestkit`` package, nothing else: not the
repository, so a snippet that imports the repository's ``examples`` or
``tests`` fails here as it would for a user who installed the package. Each snippet runs in a fresh namespace (a module of its own name). A
snippet that defines test cases and does not run them itself has them run into
a ``unittest.TestResult``, which must be successful; a snippet that runs tests
itself (it holds a ``TestResult``) makes its own assertions.

The guide's table of class options (docs/testcases.md) is checked against the test case classes.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any

import asynctestkit
from asynctestkit import AsyncTestCase, ClockedTestCase
from asynctestkit._testcase._options import OPTIONS

# The options configure() takes (the table also has loop_factory and loop_scope).
_OPTIONS = frozenset(name for name, option in OPTIONS.items() if option.per_test)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The guide: one page per part; the README is its front page.
PAGES = (README, *sorted((ROOT / "docs").glob("*.md")))
OPTIONS_PAGE = ROOT / "docs" / "testcases.md"
_FENCE = re.compile(r"^```python\n(.*?)^```\n", re.DOTALL | re.MULTILINE)

# Run in the child, with the snippets as JSON on stdin; prints one JSON object:
# where asynctestkit came from, whether `examples` is importable, and for each
# snippet the texts of its problems.
_CHILD = r'''
import importlib.util, json, linecache, sys, traceback, types, unittest

def run(where, source):
    page, line = where.rsplit(":", 1)
    name = f"snippet_{page.replace('/', '_').replace('.', '_')}_line_{line}"
    module = types.ModuleType(name)
    module.__file__ = page
    sys.modules[name] = module  # unittest, dataclasses and patch() look modules up by name
    filename = where
    # Let tracebacks and task reports quote the snippet's lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
        namespace = module.__dict__
        if any(isinstance(v, unittest.TestResult) for v in namespace.values()):
            return []  # it ran its tests and asserted on them itself
        result = unittest.TestResult()
        for case in list(namespace.values()):
            if isinstance(case, type) and issubclass(case, unittest.TestCase) and case.__module__ == name:
                unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
        return [text for _, text in result.failures + result.errors]
    except BaseException:
        return [traceback.format_exc()]
    finally:
        del sys.modules[name]
        linecache.cache.pop(filename, None)

site, snippets = json.load(sys.stdin)
sys.path.insert(0, site)
report = {
    "asynctestkit": importlib.util.find_spec("asynctestkit").origin,
    "examples": importlib.util.find_spec("examples") is not None,
    "tests": importlib.util.find_spec("tests") is not None,
    "problems": [[line, run(line, source)] for line, source in snippets],
}
print(json.dumps(report))
'''


def snippets() -> list[tuple[str, str]]:
    """Return ("page:line", source) of every ```python block of the README and the docs pages."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        where = page.relative_to(ROOT).as_posix()
        found += [(f"{where}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1)) for m in _FENCE.finditer(text)]
    return found


def run_snippets_as_a_user(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Run the snippets in a child Python that sees only a copy of the package; return its report."""
    with tempfile.TemporaryDirectory(prefix="asynctestkit-readme-") as tmp:
        site = Path(tmp) / "site"
        package = Path(asynctestkit.__file__).resolve().parent
        shutil.copytree(package, site / "asynctestkit", ignore=shutil.ignore_patterns("__pycache__"))
        work = Path(tmp) / "work"
        work.mkdir()
        # The snippets run under -W error whatever the runner (pytest's -W is not in
        # sys.warnoptions); the parent's own -W options come after and refine it.
        warnings = ["-Werror", *(f"-W{option}" for option in sys.warnoptions)]
        # -I: no PYTHON* variables, no user site, not the working directory; -S: no
        # site-packages (an installed asynctestkit, or a stray top-level `examples`).
        child = subprocess.run(
            [sys.executable, "-I", "-S", "-B", *warnings, "-c", _CHILD],
            input=json.dumps([str(site), items]),
            capture_output=True,
            text=True,
            cwd=work,
            timeout=300,
        )
        if child.returncode != 0 or not child.stdout.strip():
            raise AssertionError(f"the snippet runner failed ({child.returncode}):\n{child.stderr}")
        report: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        report["site"] = str(site)
        return report


class TestReadme(unittest.TestCase):
    def test_there_are_snippets(self) -> None:
        """The extractor finds the guide's snippets (a broken fence would hide them)."""
        self.assertGreaterEqual(len(snippets()), 10)
        fences = sum(page.read_text(encoding="utf-8").count("```python") for page in PAGES)
        self.assertEqual(fences, len(snippets()))

    def test_every_page_of_the_guide_is_linked_from_the_readme(self) -> None:
        """A docs page nobody links to is a page nobody reads: the README's map names each one."""
        text = README.read_text(encoding="utf-8")
        for page in PAGES[1:]:
            with self.subTest(page=page.name):
                self.assertIn(f"(docs/{page.name})", text)

    def test_relative_links_point_at_files_that_exist(self) -> None:
        """Every relative link of the guide names a file of the repository."""
        for page in PAGES:
            for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
                with self.subTest(page=page.name, link=target):
                    self.assertTrue((page.parent / target).exists(), f"{page.name} links to missing {target}")

    def test_every_snippet_runs_without_the_repository(self) -> None:
        """Each snippet runs where only the package is importable, and the tests it defines pass."""
        report = run_snippets_as_a_user(snippets())
        # The child saw the copy of the package, and neither `examples` nor `tests`.
        self.assertTrue(report["asynctestkit"].startswith(report["site"]), report["asynctestkit"])
        self.assertFalse(report["examples"], "the repository's examples package is importable")
        self.assertFalse(report["tests"], "the repository's tests package is importable")
        self.assertEqual([line for line, _ in report["problems"]], [line for line, _ in snippets()])
        for line, problems in report["problems"]:
            with self.subTest(line=line):
                self.assertEqual(problems, [], "\n\n".join(problems))

    def test_a_snippet_that_imports_the_repository_fails(self) -> None:
        """The child really lacks the repository: importing `examples` fails there, with its traceback."""
        report = run_snippets_as_a_user([("README.md:1", "from examples import ttlcache\n")])
        [[line, problems]] = report["problems"]
        self.assertEqual(line, "README.md:1")
        self.assertEqual(len(problems), 1)
        self.assertRegex(problems[0], r"(?m)^ModuleNotFoundError: No module named 'examples'($|\. )")  # 3.15 adds a hint

    def test_a_failing_snippet_test_is_reported(self) -> None:
        """A test a snippet defines that fails is reported with its failure text."""
        source = (
            "import unittest\n\n\n"
            "class T(unittest.TestCase):\n"
            "    def test_it(self):\n"
            "        self.assertEqual(1, 2)\n"
        )
        [[_, problems]] = run_snippets_as_a_user([("README.md:7", source)])["problems"]
        self.assertEqual(len(problems), 1)
        self.assertRegex(problems[0], r"(?m)^AssertionError: 1 != 2$")


def option_rows() -> dict[str, tuple[str, str]]:
    """Return {option: (on, default cell)} from the guide's "Class options" table."""
    text = OPTIONS_PAGE.read_text(encoding="utf-8")
    section = text.split("\n## Class options\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"(?m)^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|", section)
    return {name: (on.strip(), default.strip()) for name, on, default in rows}


class TestOptionsTable(unittest.TestCase):
    """The guide's one table of class options is complete and its defaults are true."""

    def test_every_option_has_a_row(self) -> None:
        """Each option `configure` accepts, and loop_factory and loop_scope, has a row."""
        self.assertLessEqual(set(_OPTIONS) | {"loop_factory", "loop_scope"}, set(option_rows()))

    def test_defaults_are_the_classes(self) -> None:
        """Each row's default is the class attribute's value (for options the classes have)."""
        classes = {"both": AsyncTestCase, "`AsyncTestCase`": AsyncTestCase, "`ClockedTestCase`": ClockedTestCase}
        for name, (on, cell) in option_rows().items():
            cls = classes[on]
            case = cls("run")
            if name in _OPTIONS:
                actual = case._asynctestkit_option(name)
            elif hasattr(cls, name):
                actual = getattr(cls, name)
            else:
                continue  # a row for an option another change brings
            with self.subTest(option=name):
                default = re.match(r"`([^`]*)`", cell)
                self.assertIsNotNone(default, cell)
                assert default is not None
                self.assertEqual(ast.literal_eval(default.group(1)), actual)


class TestSupportedVersions(unittest.TestCase):
    """The package metadata, tox and the README name the same Python versions."""

    def test_classifiers_tox_and_readme_agree(self) -> None:
        """Each 3.X classifier is a tox environment and named in the README's versions section."""
        root = README.parent
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
        classified = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
        self.assertEqual(classified, [f"3.{minor}" for minor in range(10, 16)])
        self.assertRegex(pyproject, r'(?m)^requires-python = ">=3\.10"$')
        tox = configparser.ConfigParser()
        tox.read(root / "tox.ini", encoding="utf-8")
        envs = [env.strip() for env in tox["tox"]["env_list"].split(",")]
        self.assertEqual([env for env in envs if env.startswith("py")], [f"py{v.replace('.', '')}" for v in classified])
        section = README.read_text(encoding="utf-8").split("\n## Supported Python versions\n", 1)[1].split("\n## ", 1)[0]
        self.assertIn("CPython 3.10, 3.11, 3.12, 3.13, 3.14 and 3.15 are all tested", section)


if __name__ == "__main__":
    unittest.main()
