"""Decide whether an alarm starts the pipeline, start it, and say what happened.

`process()` is the only entry point. A start happens only when no execution of the
pipeline is Executing or Stopping and the last one started at least
`min_interval_seconds` ago; otherwise the event is skipped with its reason. Either
outcome is logged (structured) and published to the topic, when there is one.

At most one execution at a time: the function runs with a reserved concurrency of 1,
so invocations are serialized (Lambda queues and retries the others), and each one
reads the executions after the previous one's start is visible (`_wait_until_listed`).
The start's `ClientRequestToken` is derived from the EventBridge event id, so a retried
invocation of the same event cannot start a second execution.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .config import MAX_PARAMETER_VALUE, Config
from .events import AlarmStateChangeEvent, parse_event
from .log import logger

ACTIVE_STATUSES = ("Executing", "Stopping")
"""Execution statuses that count as running (ListPipelineExecutions' enum also has
Stopped, Failed, Succeeded and CompletedWithFailures)."""
EXECUTION_TIMEOUT = timedelta(hours=672)
"""SageMaker's pipeline execution timeout: no execution older than this still runs."""
LISTED_WAIT_SECONDS = 10.0


@dataclass
class Clients:
    """The boto3 clients the function uses (injected, so tests pass moto-backed ones)."""

    sagemaker: Any
    sns: Any


@dataclass(frozen=True)
class Outcome:
    """What the function did with one alarm event."""

    action: Literal["started", "skipped"]
    reason: str
    pipeline_name: str
    alarm_name: str
    event_id: str
    execution_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> datetime:
    return datetime.now(UTC)


def process(
    event: Any,
    config: Config,
    clients: Clients,
    *,
    now: Callable[[], datetime] = _now,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Handle one alarm event; raises `MalformedEvent` for an event it cannot act on."""
    alarm = parse_event(event)
    logger.append_keys(event_id=alarm.id, alarm_name=alarm.detail.alarm_name)
    at = now()
    executions = list(_recent_executions(clients.sagemaker, config, at))
    reason = _reason_to_skip(executions, config, at)
    if reason is not None:
        outcome = _outcome("skipped", reason, config, alarm)
    else:
        arn = _start(clients.sagemaker, config, alarm)
        _wait_until_listed(clients.sagemaker, config, arn, sleep)
        outcome = _outcome(
            "started",
            f"alarm {alarm.detail.alarm_name} entered ALARM: {alarm.detail.state.reason}",
            config,
            alarm,
            arn,
        )
    logger.info(f"retraining {outcome.action}", extra=outcome.as_dict())
    _notify(clients.sns, config, outcome)
    return outcome.as_dict()


def _outcome(
    action: Literal["started", "skipped"],
    reason: str,
    config: Config,
    alarm: AlarmStateChangeEvent,
    arn: str | None = None,
) -> Outcome:
    return Outcome(action, reason, config.pipeline_name, alarm.detail.alarm_name, alarm.id, arn)


def _recent_executions(sagemaker: Any, config: Config, at: datetime) -> Iterator[dict[str, Any]]:
    """Executions created within the execution timeout or the minimum interval, newest
    first (every page: the order is not relied on)."""
    lookback = max(EXECUTION_TIMEOUT, timedelta(seconds=config.min_interval_seconds))
    request: dict[str, Any] = {
        "PipelineName": config.pipeline_name,
        "CreatedAfter": at - lookback,
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 100,
    }
    while True:
        page = sagemaker.list_pipeline_executions(**request)
        yield from page.get("PipelineExecutionSummaries", [])
        token = page.get("NextToken")
        if not token:
            return
        request["NextToken"] = token


def _reason_to_skip(executions: list[dict[str, Any]], config: Config, at: datetime) -> str | None:
    """Why not to start now, or None to start."""
    active = [e for e in executions if e.get("PipelineExecutionStatus") in ACTIVE_STATUSES]
    if active:
        running = active[0]
        return (
            f"execution {running['PipelineExecutionArn']} of pipeline {config.pipeline_name}"
            f" is {running['PipelineExecutionStatus']}; at most one runs at a time"
        )
    starts = [e["StartTime"] for e in executions if isinstance(e.get("StartTime"), datetime)]
    if starts:
        last = max(starts)
        allowed = last + timedelta(seconds=config.min_interval_seconds)
        if at < allowed:
            return (
                f"the last execution of pipeline {config.pipeline_name} started at"
                f" {last.isoformat()}, less than the minimum interval of"
                f" {config.min_interval_seconds} s ago; the next start is allowed from"
                f" {allowed.isoformat()}"
            )
    return None


def _start(sagemaker: Any, config: Config, alarm: AlarmStateChangeEvent) -> str:
    parameters = dict(config.parameters)
    if config.trigger_parameter:
        text = f"{alarm.detail.alarm_name}: {alarm.detail.state.reason}"
        parameters[config.trigger_parameter] = text[:MAX_PARAMETER_VALUE]
    token = hashlib.sha256(f"{config.pipeline_name}:{alarm.id}".encode()).hexdigest()
    request: dict[str, Any] = {
        "PipelineName": config.pipeline_name,
        "ClientRequestToken": token,
        "PipelineExecutionDescription": (
            f"Started by alarm {alarm.detail.alarm_name} (event {alarm.id})"
        )[:3072],
    }
    if parameters:
        request["PipelineParameters"] = [
            {"Name": name, "Value": value} for name, value in sorted(parameters.items())
        ]
    arn: str = sagemaker.start_pipeline_execution(**request)["PipelineExecutionArn"]
    return arn


def _wait_until_listed(
    sagemaker: Any, config: Config, arn: str, sleep: Callable[[float], None]
) -> None:
    """Return once ListPipelineExecutions shows `arn`, so the next (serialized) invocation
    sees this execution; give up quietly after about LISTED_WAIT_SECONDS."""
    waited = 0.0
    while waited < LISTED_WAIT_SECONDS:
        page = sagemaker.list_pipeline_executions(
            PipelineName=config.pipeline_name,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=10,
        )
        if any(
            e.get("PipelineExecutionArn") == arn for e in page.get("PipelineExecutionSummaries", [])
        ):
            return
        sleep(1.0)
        waited += 1.0
    logger.warning("started execution not listed yet", extra={"execution_arn": arn})


def _notify(sns: Any, config: Config, outcome: Outcome) -> None:
    if not config.notification_topic_arn:
        return
    subject = f"Retraining {outcome.action}: {outcome.pipeline_name}"[:100]
    sns.publish(
        TopicArn=config.notification_topic_arn,
        Subject=subject,
        Message=json.dumps(outcome.as_dict(), indent=2),
        MessageAttributes={
            "action": {"DataType": "String", "StringValue": outcome.action},
            "pipeline": {"DataType": "String", "StringValue": outcome.pipeline_name},
        },
    )
