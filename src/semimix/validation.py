"""Valid values, declared on the dataclass fields that hold them, and the one checker that reads them.

A config section or a method's hyperparameters says what each field accepts where the field is
declared (``choice("sgd", ("sgd", "adam"))``, ``bounded(0.1, gt=0)``); ``check_fields`` walks a
dataclass tree and raises one SemimixError naming the key path, the value and what is valid. So a
setting is checked once, when its config is built, and no consumer or method can forget a check.
This module imports nothing of semimix but its errors, so configs and methods can both use it."""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from semimix.errors import SemimixError

RULE = "semimix.rule"  # the field metadata key holding a field's Rule


@dataclass(frozen=True)
class Rule:
    """What a field accepts: one of ``choices``, a string matching ``pattern`` (described by
    ``text``), true or false (``boolean``), or a finite number within the bounds; None too where
    ``nullable``, and the string ``auto`` too where ``auto`` (decided when the run starts)."""

    choices: tuple[str, ...] = ()
    pattern: str = ""
    text: str = ""
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    integer: bool = False
    nullable: bool = False
    boolean: bool = False
    auto: bool = False

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.auto and isinstance(value, str) and value == "auto":
            return True
        if self.boolean:
            return isinstance(value, bool)
        if self.choices:
            return isinstance(value, str) and value in self.choices
        if self.pattern:
            return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return False
        number = cast(float, value)  # a real number; typeshed's numbers.Real declares no comparisons
        return (
            (self.gt is None or number > self.gt)
            and (self.ge is None or number >= self.ge)
            and (self.lt is None or number < self.lt)
            and (self.le is None or number <= self.le)
        )

    def describe(self) -> str:
        """What is valid, as the error message says it: 'one of a, b', 'an integer in [0, 9]', 'a number > 0'."""
        if self.choices:
            text = f"one of {', '.join(self.choices)}"
        elif self.pattern:
            text = self.text
        elif self.boolean:
            text = "true, false"
        else:
            text = f"{'an integer' if self.integer else 'a number'} {self._range()}"
        return f"{text}{' or auto' if self.auto else ''}{' or null' if self.nullable else ''}"

    def _range(self) -> str:
        low, high = (self.gt if self.gt is not None else self.ge), (self.lt if self.lt is not None else self.le)
        if low is not None and high is not None:
            return f"in {'(' if self.gt is not None else '['}{low}, {high}{')' if self.lt is not None else ']'}"
        if low is not None:
            return f"{'>' if self.gt is not None else '>='} {low}"
        return f"{'<' if self.lt is not None else '<='} {high}"


def _field(default: Any, rule: Rule) -> Any:
    return dataclasses.field(default=default, metadata={RULE: rule})


def choice(default: str | None, choices: Iterable[str]) -> Any:
    """A field that must be one of ``choices`` (or None, where None is the default: "follow another setting")."""
    return _field(default, Rule(choices=tuple(choices), nullable=default is None))


def bounded(
    default: float | str | None,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    integer: bool | None = None,
) -> Any:
    """A numeric field within the given bounds; an integer one where the default is an int (or
    ``integer``), nullable where the default is None, and taking ``auto`` too where that is the default."""
    if integer is None:
        integer = isinstance(default, int) and not isinstance(default, bool)
    return _field(default, Rule(gt=gt, ge=ge, lt=lt, le=le, integer=integer, nullable=default is None, auto=default == "auto"))


def switch() -> Any:
    """A field that is true, false or auto, the default (on where the run finds what it needs)."""
    return _field("auto", Rule(boolean=True, auto=True))


def matching(default: str, pattern: str, text: str) -> Any:
    """A string field whose whole value must match the regular expression ``pattern``; ``text`` says
    what matches, for the error message."""
    return _field(default, Rule(pattern=pattern, text=text))


def field_rule(cls: type, name: str) -> Rule | None:
    """Field ``name``'s Rule, declared on it or on the base-class field it overrides, so a subclass
    that only changes a default keeps the rule."""
    for klass in cls.__mro__:
        f = getattr(klass, "__dataclass_fields__", {}).get(name)
        if f is not None and RULE in f.metadata:
            return f.metadata[RULE]
    return None


def check_fields(obj: Any, where: str = "") -> None:
    """Raise SemimixError for the first field of dataclass instance ``obj``, or of a dataclass it
    holds, whose value its Rule refuses; ``where`` is the key path of ``obj`` ("optim.", "ict.")."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        rule = field_rule(type(obj), f.name)
        if rule is not None and not rule.accepts(value):
            raise SemimixError(f"{where}{f.name} must be {rule.describe()}; got {value!r}")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_fields(value, f"{where}{f.name}.")
