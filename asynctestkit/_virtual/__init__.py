"""Virtual time: the clock, the event loop that reads it, the threads that can wake it, seeded schedules.

See the README, "How it is built". Nothing here is public: the package
re-exports what users need from asynctestkit/__init__.py.
"""

__all__: tuple[str, ...] = ()
