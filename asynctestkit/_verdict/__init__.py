"""What a test leaves behind and how it is reported: hygiene, task reports, the watchdog.

See the README, "How it is built". Nothing here is public: the package
re-exports what users need from asynctestkit/__init__.py.
"""

__all__: tuple[str, ...] = ()
