"""Lambda entry point: settings from the environment, boto3 clients, then `logic.process`.

Environment variables are listed in `config`. Invoked asynchronously by the EventBridge
rule on "CloudWatch Alarm State Change" events of the watched alarms entering ALARM.
Malformed events and configuration errors raise: Lambda retries, then the event lands in
the dead-letter queue (nothing is swallowed).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Config, load_config
from .errors import ConfigError, MalformedEvent
from .log import logger
from .logic import Clients, process


@functools.cache
def _clients() -> Clients:
    """Created once per execution environment, reused across invocations."""
    return Clients(sagemaker=boto3.client("sagemaker"), sns=boto3.client("sns"))


@functools.cache
def _config() -> Config:
    """Read once; a ConfigError is not cached, so every invocation reports it."""
    return load_config(os.environ)


def reset() -> None:
    """Forget cached settings and clients (tests change the environment and the mocks)."""
    _clients.cache_clear()
    _config.cache_clear()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one "CloudWatch Alarm State Change" event."""
    event_id = event.get("id") if isinstance(event, dict) else None
    try:
        return process(event, _config(), _clients())
    except (ConfigError, MalformedEvent):
        logger.exception(
            "event not processed; it goes to the dead-letter queue", extra={"event_id": event_id}
        )
        raise
