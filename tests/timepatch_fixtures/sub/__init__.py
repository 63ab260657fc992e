"""A subpackage whose attribute `hidden` shadows its submodule of the same name."""

from __future__ import annotations

from .deep import deep_perf_counter
from .hidden import hidden

__all__ = ("deep_perf_counter", "hidden")
