"""Fixture package for tests/test_timepatch.py: code under test that reads time.

The package itself holds one alias; its submodules hold every form of
reference that patch_time rebinds (aliases.py, dates.py, sub/) and the forms
it only reports (unpatchable.py).
"""

from __future__ import annotations

from time import monotonic as package_monotonic

__all__ = ("package_monotonic",)
