"""The shared prop checks: messages in API names, every problem at once, tokens skipped."""

from __future__ import annotations

import re

import pytest
from aws_cdk import Aws, Duration, Token

from constructs_lib._validate import Checks
from constructs_lib.errors import ConfigurationError


def problems(call) -> list[str]:  # type: ignore[no-untyped-def]
    check = Checks("Thing")
    call(check)
    return check.problems


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda c: c.integer("count", "2", 1, 10),
            "count: got a str '2'; allowed a whole number from 1 to 10",
        ),
        (lambda c: c.integer("count", True, 1, 10), "count: got a bool True"),
        (lambda c: c.integer("count", 2.0, 1, 10), "count: got a float 2.0"),
        (
            lambda c: c.integer("step", 0, 1, 50, "%"),
            "step: got 0%; allowed a whole number from 1% to 50%",
        ),
        (
            lambda c: c.number("t", float("inf"), 0, 1),
            "t: got a float inf; allowed a number from 0 up to 1",
        ),
        (
            lambda c: c.number("t", 0, 0, 1, low_open=True),
            "t: got 0; allowed a number above 0 up to 1",
        ),
        (lambda c: c.number("t", "0.5", 0, 1), "t: got a str '0.5'"),
        (lambda c: c.one_of("m", 1025, [1024, 2048]), "m: got 1025; allowed 1024 or 2048"),
        (lambda c: c.one_of("m", True, [1]), "m: got True; allowed 1"),
        (
            lambda c: c.duration("d", 30, 0, 60),
            "d: got an int 30; allowed a Duration from 0 s to 60 s",
        ),
        (lambda c: c.duration("d", Duration.minutes(2), 0, 60), "d: got 120 s; allowed a Duration"),
        (
            lambda c: c.strings("s", "main", re.compile("x"), "branch"),
            "s: got a str 'main'; allowed a list of branch",
        ),
        (
            lambda c: c.key_prefix("p", "pipelines/x"),
            "p: got 'pipelines/x'; allowed an S3 key prefix of the folder",
        ),
        (lambda c: c.key_prefix("p", "/pipelines/x/"), "did you mean 'pipelines/x/'?"),
        (lambda c: c.key_prefix("p", "pipelines/*"), "p: got 'pipelines/*'"),
    ],
)
def test_each_check_names_the_prop_value_and_what_is_allowed(call, expected):
    (problem,) = problems(call)
    assert problem.startswith(expected) or expected in problem


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.integer("n", Token.as_number(Aws.ACCOUNT_ID), 1, 2),
        lambda c: c.number("n", Token.as_number(Aws.ACCOUNT_ID), 0, 1),
        lambda c: c.text("s", Aws.REGION, re.compile("y"), "y"),
        lambda c: c.key_prefix("p", Aws.REGION),
        lambda c: c.key_prefix("p", "pipelines/x/"),
        lambda c: c.integer("n", 5, 1),
    ],
)
def test_tokens_and_valid_values_pass(call):
    assert problems(call) == []


def test_done_raises_every_problem_with_the_owner():
    check = Checks("Autoscaling")
    check.integer("min_capacity", 0, 1, 100)
    check.integer("max_capacity", "4", 1, 100)
    with pytest.raises(ConfigurationError) as raised:
        check.done()
    assert str(raised.value) == (
        "Autoscaling min_capacity: got 0; allowed a whole number from 1 to 100;"
        " max_capacity: got a str '4'; allowed a whole number from 1 to 100"
    )


def test_done_is_silent_without_problems():
    Checks("Nothing").done()
