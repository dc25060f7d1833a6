"""``Method`` is generic in its params (``class VAT(Method[VATParams])``) while ``Params``, the class
that ``__init__`` builds them from, is a ClassVar that mypy cannot tie to the type argument: this
checks, for every registered method, that the two agree, so the cast in ``Method.__init__`` holds."""

from __future__ import annotations

import typing

import pytest

from semimix.methods import METHODS, build_method
from semimix.methods.base import Method


def declared_params(cls: type) -> type:
    """The params type a method class declares: the first concrete argument of a ``Method`` base
    along its MRO (a type variable's default where its class leaves it open)."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Method):
                (arg,) = typing.get_args(base)
                if isinstance(arg, typing.TypeVar):
                    arg = getattr(arg, "__default__", None)
                if isinstance(arg, type):
                    return arg
    raise AssertionError(f"{cls.__name__} declares no params type")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_params_is_the_declared_type(name: str) -> None:
    cls = METHODS[name]
    assert issubclass(cls.Params, declared_params(cls)), f"{cls.__name__}.Params is not a {declared_params(cls).__name__}"
    assert isinstance(build_method(name).params, declared_params(cls))
