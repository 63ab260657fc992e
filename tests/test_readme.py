"""Every ```python snippet of README.md runs and passes.

Each snippet is executed in a fresh namespace (a module of its own name). A
snippet that defines test cases and does not run them itself has them run into
a ``unittest.TestResult``, which must be successful; a snippet that runs tests
itself (it holds a ``TestResult``) makes its own assertions.
"""

from __future__ import annotations

import linecache
import re
import sys
import types
import unittest
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```python\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


def snippets() -> list[tuple[int, str]]:
    """Return (line number, source) of every ```python block of the README."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _FENCE.finditer(text)]


class TestReadme(unittest.TestCase):
    def test_there_are_snippets(self) -> None:
        """The extractor finds the README's snippets (a broken fence would hide them)."""
        self.assertGreaterEqual(len(snippets()), 10)
        self.assertEqual(README.read_text(encoding="utf-8").count("```python"), len(snippets()))

    def test_every_snippet_runs(self) -> None:
        """Each snippet runs, and the tests it defines pass."""
        for line, source in snippets():
            with self.subTest(line=line):
                self._run(line, source)

    def _run(self, line: int, source: str) -> None:
        name = f"readme_snippet_line_{line}"
        module = types.ModuleType(name)
        module.__file__ = str(README)
        sys.modules[name] = module  # unittest and dataclasses look classes' modules up
        filename = f"{README}:{line}"
        # Let tracebacks and task reports quote the snippet's lines.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            exec(compile(source, filename, "exec"), module.__dict__)
            namespace = module.__dict__
            if any(isinstance(v, unittest.TestResult) for v in namespace.values()):
                return  # it ran its tests and asserted on them itself
            cases = [
                v for v in namespace.values()
                if isinstance(v, type) and issubclass(v, unittest.TestCase) and v.__module__ == name
            ]
            result = unittest.TestResult()
            for case in cases:
                unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
            problems = result.failures + result.errors
            self.assertEqual(problems, [], "\n\n".join(text for _, text in problems))
        finally:
            del sys.modules[name]
            linecache.cache.pop(filename, None)


if __name__ == "__main__":
    unittest.main()
