"""Imported by patch_time itself, when a test names it before anyone imported it."""

from __future__ import annotations

from time import monotonic as lazy_monotonic

__all__ = ("lazy_monotonic",)
