"""Value rules attached to config fields: what a type cannot say (a positive batch size, a rate
in [0, 1), one of a closed set of names). A rule travels in the dataclass field's metadata and is
enforced by ge4rec.config.checks, the one place that checks config values."""

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Names = Sequence[str] | Callable[[], Sequence[str]]


@dataclass(frozen=True)
class Rule:
    """`test(value)` is true for a good value; `expected` says what a good value is."""

    test: Callable[[Any], bool]
    expected: str | Callable[[], str]

    def describe(self) -> str:
        return self.expected() if callable(self.expected) else self.expected


def option(default: Any, rule: Rule | None = None) -> Any:
    """A dataclass field with `default` (a list or dict is copied for every instance) and `rule`."""
    metadata = {"rule": rule} if rule is not None else {}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def names(choices: Names) -> list[str]:
    return list(choices() if callable(choices) else choices)


def one_of(default: str | None, choices: Names, ignore_case: bool = False) -> Any:
    """One of a closed set of names; `choices` may be a function (a registry read when checked)."""

    def test(value: str) -> bool:
        return (value.lower() if ignore_case else value) in names(choices)

    return option(default, Rule(test, lambda: "one of " + ", ".join(names(choices))))


def integer(default: int | str | None, minimum: int = 1) -> Any:
    """An integer >= minimum (the default may be an interpolation, "${dataset.embedding_dim}")."""
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    return option(default, Rule(lambda v: v >= minimum, expected))


def number(
    default: float | None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A finite number within the bounds given (open or closed at each end)."""

    def test(value: float) -> bool:
        if not math.isfinite(value):
            return False
        if low is not None and (value <= low if low_open else value < low):
            return False
        return high is None or (value < high if high_open else value <= high)

    if high is None:
        expected = f"a number {'>' if low_open else '>='} {low:g}" if low is not None else "a finite number"
    else:
        expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return option(default, Rule(test, expected))


def integers(default: list[int], minimum: int = 1, non_empty: bool = False) -> Any:
    """A list of integers, each >= minimum (and at least one when non_empty)."""
    each = "positive integers" if minimum == 1 else f"integers >= {minimum}"
    expected = f"a non-empty list of {each}" if non_empty else f"a list of {each}"
    return option(
        default, Rule(lambda v: (bool(v) or not non_empty) and min(v, default=minimum) >= minimum, expected)
    )


def rule_of(field_: Any) -> Rule | None:
    return field_.metadata.get("rule")
