"""A submodule two levels down."""

from __future__ import annotations

from time import perf_counter as deep_perf_counter

__all__ = ("deep_perf_counter",)
