"""Exception types: what is dead-lettered and what is a configuration mistake."""

from __future__ import annotations


class ConfigError(ValueError):
    """An environment variable is missing or invalid; the message names it.

    Raised on every invocation until the function is redeployed with fixed settings, so
    the invocation fails and the function's dead-letter queue keeps the event.
    """


class DeadLetter(Exception):  # noqa: N818 - names the outcome, not the fault
    """The event cannot be processed now; send it to the dead-letter queue and return.

    `category` is a short machine-readable kind (a DLQ message attribute); the message is
    the human-readable reason. Subclasses are the failures this function foresees.
    """

    category = "unprocessable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def attributes(self) -> dict[str, str]:
        """Message attributes the dead letter carries besides the reason and category."""
        return {}


class MalformedEvent(DeadLetter):
    """The event is not a well-formed "SageMaker Model Package State Change" event."""

    category = "malformed-event"


class ForeignEvent(DeadLetter):
    """A well-formed event this function does not handle (other source, type or group)."""

    category = "foreign-event"


class PromotionFailed(DeadLetter):
    """The promotion pull request could not be opened (token, manifest or GitHub)."""

    category = "promotion-failed"
