"""Prop checks shared by every construct and value class.

Messages read `<Owner> <prop>: got <value>; allowed <what>` in the caller's API names
(`TrafficShift step_percent: got 0; allowed 1 to 50 (CANARY)`), and all problems of one
call are reported together. Values that are CDK tokens are not checked.

    check = Checks("Autoscaling")
    check.integer("min_capacity", self.min_capacity, 1, 100)
    check.integer("max_capacity", self.max_capacity, 1, 100)
    check.done()   # raises ConfigurationError naming every problem found
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from aws_cdk import Duration, Token

from constructs_lib.errors import ConfigurationError


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _kind(value: Any) -> str:
    return type(value).__name__


class Shown(str):
    """Text to show as it is after `got` (e.g. `a str '5'`, `7200 s`)."""


def typed(value: Any, *, with_value: bool = True) -> Shown:
    """`a str 'x'`, `an int 7`: how a value of the wrong type is shown after `got`."""
    kind = _kind(value)
    article = "an" if kind[0] in "aeiouAEIOU" else "a"
    return Shown(f"{article} {kind}" + (f" {value!r}" if with_value else ""))


def _is_token_number(value: Any) -> bool:
    """A number that stands for a CDK token (inf and nan are not; jsii cannot pass them)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and Token.is_unresolved(value)
    )


class Checks:
    """Collects the problems of one construct or value class, then raises them at once."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.problems: list[str] = []

    def fail(self, prop: str, got: Any, allowed: str) -> None:
        """Record `prop` as invalid: it got `got` and allows `allowed`.

        `got` is shown with repr (so a str is quoted) unless it is a `Shown` text.
        """
        shown = got if isinstance(got, Shown) else _shown(got)
        self.problems.append(f"{prop}: got {shown}; allowed {allowed}")

    def ok(self) -> bool:
        return not self.problems

    def done(self) -> None:
        """Raise one ConfigurationError naming every problem, if there is any."""
        if self.problems:
            raise ConfigurationError(f"{self.owner} " + "; ".join(self.problems))

    # -- one check per kind of value -----------------------------------------------------

    def integer(
        self, prop: str, value: Any, low: int, high: int | None = None, unit: str = ""
    ) -> bool:
        """A whole number from `low` to `high` (no bool, float or str)."""
        allowed = f"a whole number from {low}{unit}" + (
            f" to {high}{unit}" if high is not None else " up"
        )
        if _is_token_number(value):
            return True
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(prop, typed(value), allowed)
            return False
        if value < low or (high is not None and value > high):
            self.fail(prop, Shown(f"{value}{unit}"), allowed)
            return False
        return True

    def number(
        self,
        prop: str,
        value: Any,
        low: float | None = None,
        high: float | None = None,
        *,
        low_open: bool = False,
    ) -> bool:
        """A real number within [`low`, `high`] (`(low, high]` with `low_open`)."""
        lower = "" if low is None else f"{'above' if low_open else 'from'} {_shown(float(low))}"
        upper = "" if high is None else f"up to {_shown(float(high))}"
        allowed = "a number" + (f" {lower}" if lower else "") + (f" {upper}" if upper else "")
        if _is_token_number(value):
            return True
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(prop, typed(value), allowed)
            return False
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            self.fail(prop, value, allowed)
            return False
        return True

    def text(
        self, prop: str, value: Any, pattern: re.Pattern[str] | None = None, allowed: str = ""
    ) -> bool:
        """A str (matching `pattern` in full, when given)."""
        if not isinstance(value, str):
            self.fail(prop, typed(value), allowed or "a string")
            return False
        if Token.is_unresolved(value) or pattern is None or pattern.fullmatch(value):
            return True
        self.fail(prop, value, allowed)
        return False

    def one_of(self, prop: str, value: Any, allowed: Sequence[Any]) -> bool:
        """One of `allowed` (compared with ==, so 1 and True are told apart by type)."""
        if any(type(value) is type(a) and value == a for a in allowed):
            return True
        self.fail(prop, value, " or ".join(_shown(a) for a in allowed))
        return False

    def instance(self, prop: str, value: Any, types: type | tuple[type, ...], allowed: str) -> bool:
        """An instance of `types` (`allowed` names them for the user)."""
        if isinstance(value, types):
            return True
        self.fail(prop, typed(value), allowed)
        return False

    def has(self, prop: str, value: Any, attribute: str, allowed: str) -> bool:
        """Duck-typed check for a jsii interface (`IBucket`, `IKey`, `ITopic`), which
        `isinstance` cannot test: `value` must have `attribute`."""
        if hasattr(value, attribute):
            return True
        self.fail(prop, typed(value), allowed)
        return False

    def duration(
        self, prop: str, value: Any, low_seconds: float, high_seconds: float | None = None
    ) -> bool:
        """A `Duration` from `low_seconds` to `high_seconds`."""
        allowed = f"a Duration from {_shown(float(low_seconds))} s" + (
            f" to {_shown(float(high_seconds))} s" if high_seconds is not None else ""
        )
        if not isinstance(value, Duration):
            self.fail(prop, typed(value), allowed)
            return False
        if value.is_unresolved():
            return True
        seconds = value.to_seconds()
        if seconds < low_seconds or (high_seconds is not None and seconds > high_seconds):
            self.fail(prop, Shown(f"{_shown(float(seconds))} s"), allowed)
            return False
        return True

    def strings(self, prop: str, value: Any, pattern: re.Pattern[str], allowed: str) -> bool:
        """A list or tuple of str, each matching `pattern` (not a bare str)."""
        if isinstance(value, str) or not isinstance(value, Iterable):
            self.fail(prop, typed(value), f"a list of {allowed}")
            return False
        bad = [
            v
            for v in value
            if not isinstance(v, str) or not (Token.is_unresolved(v) or pattern.fullmatch(v))
        ]
        if bad:
            self.fail(prop, Shown(repr(bad)), f"each {allowed}")
            return False
        return True

    def key_prefix(self, prop: str, value: Any) -> bool:
        """An S3 key prefix naming a folder: `a/b/` (no leading '/', no wildcard, ends '/').

        A prefix without its trailing slash would make every grant below it match sibling
        folders too (`pipelines/churn*` also matches `pipelines/churn-v2/`).
        """
        if not self.text(prop, value, allowed="an S3 key prefix ending with '/'"):
            return False
        if Token.is_unresolved(value):
            return True
        if not value.endswith("/") or value.startswith("/") or "*" in value or "//" in value:
            hint = value.strip("/*")
            self.fail(
                prop,
                value,
                "an S3 key prefix of the folder, ending with '/' and with no leading '/' or"
                f" wildcard (did you mean {hint + '/'!r}?); without the slash, grants on it"
                " would also match sibling folders",
            )
            return False
        return True
