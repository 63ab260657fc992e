"""The package's public face: what `asynctestkit` exports, and nothing more."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import traceback
import unittest
from pathlib import Path

import asynctestkit


class TestPublicNames(unittest.TestCase):
    """`asynctestkit.__all__` is the whole public API."""

    def test_all_is_sorted_tuple_without_duplicates(self) -> None:
        """__all__ is a sorted tuple, so a diff shows every change to the API."""
        self.assertIsInstance(asynctestkit.__all__, tuple)
        self.assertEqual(list(asynctestkit.__all__), sorted(asynctestkit.__all__))
        self.assertEqual(len(set(asynctestkit.__all__)), len(asynctestkit.__all__))

    def test_every_public_attribute_is_in_all(self) -> None:
        """Nothing public is importable from the package without being in __all__."""
        public = {
            name for name in vars(asynctestkit)
            if not name.startswith("_") and not inspect.ismodule(getattr(asynctestkit, name))
        }
        self.assertEqual(public, set(asynctestkit.__all__))

    def test_every_name_in_all_exists(self) -> None:
        """Each name in __all__ resolves to an object of the package."""
        for name in asynctestkit.__all__:
            with self.subTest(name=name):
                self.assertTrue(hasattr(asynctestkit, name), name)

    def test_public_objects_come_from_private_modules(self) -> None:
        """Code lives in underscore modules (in underscore subpackages); the package only re-exports it."""
        for name in asynctestkit.__all__:
            obj = getattr(asynctestkit, name)
            module = getattr(obj, "__module__", "")
            with self.subTest(name=name):
                if isinstance(obj, type) and issubclass(obj, BaseException):
                    continue  # named under the package (see the next test)
                self.assertRegex(module, r"^asynctestkit\.(_[a-z]+\.)?_[a-z]+$")

    def test_public_errors_print_under_the_package_name(self) -> None:
        """A traceback says asynctestkit.DeadlockError, never the private module's path."""
        for name in asynctestkit.__all__:
            obj = getattr(asynctestkit, name)
            if not (isinstance(obj, type) and issubclass(obj, BaseException)):
                continue
            with self.subTest(name=name):
                line = traceback.format_exception_only(obj, obj("boom"))[-1]
                self.assertEqual(line, f"asynctestkit.{name}: boom\n")

    def test_every_public_name_has_a_docstring(self) -> None:
        """A user reading help() on any public name gets an explanation."""
        for name in asynctestkit.__all__:
            obj = getattr(asynctestkit, name)
            with self.subTest(name=name):
                self.assertTrue((inspect.getdoc(obj) or "").strip(), f"{name} has no docstring")

    def test_what_patch_time_returns_is_exported(self) -> None:
        """The README documents TimePatch (patched, unpatched, report): users can import and type it."""
        patch = asynctestkit.patch_time(asynctestkit.VirtualClock())
        self.assertIs(type(patch), asynctestkit.TimePatch)
        for name in ("patched", "unpatched", "report"):
            with self.subTest(attribute=name):
                self.assertTrue(hasattr(asynctestkit.TimePatch, name), name)

    def test_contract_names_are_exported(self) -> None:
        """The names the design promises to users are all there."""
        promised = {
            "AsyncTestCase", "ClockedTestCase", "VirtualClock", "virtual_event_loop",
            "patch_time", "DeadlockError",
        }
        self.assertLessEqual(promised, set(asynctestkit.__all__))


class TestModules(unittest.TestCase):
    """The private modules keep to their own business."""

    def test_private_modules_declare_all(self) -> None:
        """Each private module and subpackage says what it offers to the rest of the package."""
        infos = list(pkgutil.walk_packages(asynctestkit.__path__, "asynctestkit."))
        self.assertGreater(len(infos), 20)
        for info in infos:
            module = importlib.import_module(info.name)
            with self.subTest(module=info.name):
                self.assertTrue(info.name.rpartition(".")[2].startswith("_"), info.name)
                self.assertIsInstance(getattr(module, "__all__", None), tuple)

    def test_runtime_imports_only_the_standard_library(self) -> None:
        """asynctestkit imports nothing outside the standard library."""
        import ast

        allowed = set(sys.stdlib_module_names) | {"asynctestkit", "__future__"}
        root = Path(asynctestkit.__file__).parent
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    with self.subTest(file=path.name, module=name):
                        self.assertIn(name.split(".")[0], allowed)

    def test_clock_imports_nothing_else_of_the_package(self) -> None:
        """The clock is the bottom of the design: it knows nothing of the rest."""
        source = (Path(asynctestkit.__file__).parent / "_virtual" / "_clock.py").read_text(encoding="utf-8")
        self.assertNotRegex(source, r"(?m)^\s*from \.+[\w.]* import|^\s*import asynctestkit")

    def test_typed_marker_ships(self) -> None:
        """py.typed tells type checkers the inline hints are the package's types."""
        self.assertTrue((Path(asynctestkit.__file__).parent / "py.typed").is_file())


if __name__ == "__main__":
    unittest.main()
