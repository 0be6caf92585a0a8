"""Exception types: a configuration mistake, and an event this function cannot act on.

Both are raised, never swallowed: the invocation fails, Lambda retries it, then hands
the event to the function's dead-letter queue, so nothing is lost.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


class MalformedEvent(ValueError):  # noqa: N818 - names the event, as approval does
    """Not a "CloudWatch Alarm State Change" event entering ALARM, or missing what this
    function needs (alarm name, state, event id)."""
