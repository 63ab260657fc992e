"""The virtual network: TCP and Unix connections in memory, on the virtual clock.

See docs/network.md. Nothing here is public: the package re-exports
`VirtualNetwork` from asynctestkit/__init__.py.
"""

__all__: tuple[str, ...] = ()
