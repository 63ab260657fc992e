"""``PatchingMixin``: ``patch``, ``patch_object`` and ``patch_dict`` for test cases.

The replacements are autospecs (``_autospec.py``) by default, and one stdlib gap is
closed: a ``MagicMock`` passed where an ``AsyncMock`` was needed fails at the ``await``,
far from the line that made the mistake; here it is refused at the patch.
"""

from __future__ import annotations

import inspect
import pkgutil
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol
from unittest import mock

from ._autospec import _autospec, _close_names, _label

__all__ = ("PatchingMixin",)

# Keep our frames out of the tracebacks of failing tests (CPython's unittest rule).
__unittest = True
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

_MISSING: Final[Any] = object()


class _CleanupHost(Protocol):
    def addCleanup(self, function: Callable[..., object], /, *args: Any, **kwargs: Any) -> None: ...


def _is_sync_mock(new: object) -> bool:
    """Whether ``new`` is a mock whose call result cannot be awaited."""
    if not isinstance(new, mock.NonCallableMock) or isinstance(new, mock.AsyncMock):
        return False
    if not callable(new):
        return True
    if inspect.iscoroutinefunction(new.side_effect):
        return False
    return not inspect.isawaitable(new.return_value)


def _check_replacement(label: str, original: object, new: object) -> None:
    if original is _MISSING or not inspect.iscoroutinefunction(original):
        return
    if not _is_sync_mock(new):
        return
    kind = type(new).__name__
    raise TypeError(
        f"{label}: the original is an async function, so the code under test awaits what it "
        f"returns, but new= is a {kind} whose result cannot be awaited; the test would fail "
        f"later with \"object {kind} can't be used in 'await' expression\", far from here. "
        "Pass an AsyncMock, or leave out new= to get an autospec."
    )


def _make_patcher(
    label: str,
    get_owner: Callable[[], object],
    attribute: str,
    new: object,
    kwargs: dict[str, Any],
    make: Callable[..., Any],
) -> Any:
    if new is not mock.DEFAULT:
        try:
            original = getattr(get_owner(), attribute)
        except (ImportError, AttributeError):
            original = _MISSING
        _check_replacement(label, original, new)
        return make(new, **kwargs)
    explicit = kwargs.pop("autospec", None)
    if explicit not in (None, True) or kwargs.keys() & {"new_callable", "spec", "spec_set"}:
        if explicit is not None:
            kwargs["autospec"] = explicit
        return make(mock.DEFAULT, **kwargs)
    create = bool(kwargs.pop("create", False))
    owner = get_owner()
    static = inspect.getattr_static(owner, attribute, _MISSING)
    if static is _MISSING:
        if create:
            return make(mock.DEFAULT, create=True, **kwargs)
        raise AttributeError(
            f"{label}: {_label(owner)} has no attribute {attribute!r}; "
            f"{_close_names(attribute, owner)} Pass create=True to add it for the test."
        )
    if isinstance(owner, type) and isinstance(static, types.FunctionType):
        # An instance method replaced on its class must stay a function so that it
        # binds `self`; the standard library's autospec does exactly that.
        return make(mock.DEFAULT, autospec=True, create=create, **kwargs)
    new_mock = _autospec(getattr(owner, attribute), instance=False, spec_set=True, name=attribute)
    if kwargs:
        new_mock.configure_mock(**kwargs)
    return make(new_mock, create=create)


def _start(host: _CleanupHost, patcher: Any) -> Any:
    started = patcher.start()
    host.addCleanup(patcher.stop)
    return started


class PatchingMixin:
    """``patch``, ``patch_object`` and ``patch_dict`` for a TestCase, undone automatically.

    Each helper starts a ``unittest.mock`` patcher, registers its ``stop`` with
    ``addCleanup`` (so the patch is undone however the test ends) and returns the mock.
    Without ``new=``, the replacement is an :func:`autospec` of the original, so async
    methods, async generators and async context managers work.

    Example:
        >>> class ServiceTest(PatchingMixin, unittest.IsolatedAsyncioTestCase):
        ...     async def test_load(self) -> None:
        ...         fetch = self.patch("app.db.fetch", return_value=b"row")
        ...         await app.service.load()
        ...         fetch.assert_awaited_once()
    """

    def patch(self: _CleanupHost, target: str, new: Any = mock.DEFAULT, **kwargs: Any) -> Any:
        """Replace ``target`` (a dotted name) for the rest of the test.

        Args:
            target: The dotted name to replace, such as ``"app.db.fetch"``.
            new: The replacement; by default an autospec of the original. Passing a
                sync mock for an async function is refused.
            **kwargs: ``unittest.mock.patch`` options (``create``, ``autospec=False``,
                ``new_callable``, ``spec``, ``spec_set``), or attributes to configure on
                the mock, such as ``return_value=`` or ``**{"method.side_effect": exc}``.

        Returns:
            The object now at ``target``.

        Raises:
            TypeError: ``new`` is a sync mock but the original is an async function.
            AttributeError: The target does not exist (and ``create`` is not set).

        Example:
            >>> # fetch = self.patch("app.db.fetch", return_value=b"row")
        """
        if not isinstance(target, str):
            raise TypeError(
                f"patch() needs the dotted name of what to replace, such as 'app.db.fetch'; "
                f"got {target!r}. To patch an attribute of an object you hold, use "
                "patch_object(obj, 'attribute')."
            )
        owner_path, dot, attribute = target.rpartition(".")
        if not dot or not owner_path:
            raise TypeError(
                f"patch() needs a dotted name such as 'module.attribute'; got {target!r}."
            )
        patcher = _make_patcher(
            f"patch({target!r})",
            lambda: pkgutil.resolve_name(owner_path),
            attribute,
            new,
            kwargs,
            lambda replacement, **options: mock.patch(target, replacement, **options),
        )
        return _start(self, patcher)

    def patch_object(
        self: _CleanupHost, target: object, attribute: str, new: Any = mock.DEFAULT, **kwargs: Any
    ) -> Any:
        """Replace ``target.attribute`` for the rest of the test.

        Args:
            target: The object holding the attribute (a module, class or instance).
            attribute: The attribute's name.
            new: The replacement; by default an autospec of the original.
            **kwargs: As for :meth:`patch`.

        Returns:
            The object now at ``target.attribute``.

        Raises:
            TypeError: ``new`` is a sync mock but the original is an async function.
            AttributeError: The attribute does not exist (and ``create`` is not set).

        Example:
            >>> # close = self.patch_object(Client, "close")
        """
        patcher = _make_patcher(
            f"patch_object({_label(target)}, {attribute!r})",
            lambda: target,
            attribute,
            new,
            kwargs,
            lambda replacement, **options: mock.patch.object(target, attribute, replacement, **options),
        )
        return _start(self, patcher)

    def patch_dict(
        self: _CleanupHost,
        in_dict: Any,
        values: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (),
        *,
        clear: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Update a dictionary for the rest of the test, restoring it afterwards.

        Args:
            in_dict: The mapping, or its dotted name (``"os.environ"``).
            values: Items to set.
            clear: Empty the mapping first.
            **kwargs: More items to set (string keys).

        Returns:
            The patched mapping.

        Example:
            >>> # env = self.patch_dict("os.environ", {"MODE": "test"})
        """
        patcher = mock.patch.dict(in_dict, values, clear=clear, **kwargs)
        return _start(self, patcher)
