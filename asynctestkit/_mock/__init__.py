"""Mock factories for async code: shapes, autospec, held and timed awaits, patching.

See the README, "How it is built". Nothing here is public: the package
re-exports what users need from asynctestkit/__init__.py.
"""

__all__: tuple[str, ...] = ()
