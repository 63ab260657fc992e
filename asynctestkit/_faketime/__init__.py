"""Fake time functions: time.monotonic and friends, aliases in target modules, the wall clock.

See the README, "How it is built". Nothing here is public: the package
re-exports what users need from asynctestkit/__init__.py.
"""

__all__: tuple[str, ...] = ()
