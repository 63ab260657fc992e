"""The test case bases: options, lifecycle, class-scoped loops, exploration, assertions.

See the README, "How it is built". Nothing here is public: the package
re-exports what users need from asynctestkit/__init__.py.
"""

__all__: tuple[str, ...] = ()
