"""Lambda entry point: settings from the environment, boto3 clients, then `logic.process`.

Environment variables are listed in `config`. Invoked asynchronously by the EventBridge
rule on "SageMaker Model Package State Change" events of the model package group.
Dead-lettered events return normally; unexpected errors propagate so Lambda retries and
then hands the event to its dead-letter queue (see `logic`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Config, load_config
from .errors import ConfigError
from .log import logger
from .logic import Clients, Result, process

DEFAULT_TIME_LIMIT_SECONDS = 90.0  # the function's timeout, when the context cannot say


def remaining_seconds(context: Any) -> Callable[[], float]:
    """Seconds left in this invocation, from the Lambda context.

    Without `get_remaining_time_in_millis` (a test double, a local run) the clock starts
    now with the function's default timeout.
    """
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        return lambda: float(remaining_ms()) / 1000.0
    deadline = time.monotonic() + DEFAULT_TIME_LIMIT_SECONDS
    return lambda: deadline - time.monotonic()


@functools.cache
def _clients() -> Clients:
    """Created once per execution environment, reused across invocations."""
    return Clients(
        sagemaker=boto3.client("sagemaker"),
        s3=boto3.client("s3"),
        sns=boto3.client("sns"),
        sqs=boto3.client("sqs"),
        secretsmanager=boto3.client("secretsmanager"),
    )


@functools.cache
def _config() -> Config:
    """Read once; a ConfigError is not cached, so every invocation reports it."""
    return load_config(os.environ)


def reset() -> None:
    """Forget cached settings and clients (tests change the environment and the mocks)."""
    _clients.cache_clear()
    _config.cache_clear()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Result:
    """Handle one "SageMaker Model Package State Change" event."""
    try:
        config = _config()
    except ConfigError:
        event_id = event.get("id") if isinstance(event, dict) else None
        logger.exception(
            "invalid configuration; the event is not processed", extra={"event_id": event_id}
        )
        raise
    return process(event, config, _clients(), remaining_seconds=remaining_seconds(context))
