"""The retraining trigger runs for real against moto's SageMaker, SNS and SQS.

Events are shaped like the examples in the CloudWatch user guide ("Alarm events and
EventBridge"), for Model Monitor alarms: a data-quality drift alarm on
`aws/sagemaker/Endpoints/data-metrics` and a model-quality alarm on
`aws/sagemaker/Endpoints/model-metrics`.

moto 5.2 implements CreatePipeline, StartPipelineExecution and ListPipelineExecutions,
but every execution it starts is `Succeeded` at once and its list ignores
`CreatedAfter`, `SortOrder` and `MaxResults`: tests that need a running or an old
execution set its status or start time in moto's backend (`_set_execution`), and the
function relies on neither the order nor the filter. Nothing is stubbed.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from lambdas.retraining import handler as handler_module
from lambdas.retraining.config import Config, load_config
from lambdas.retraining.errors import ConfigError, MalformedEvent
from lambdas.retraining.log import logger
from lambdas.retraining.logic import Clients, process

REGION = "us-east-1"
PIPELINE = "churn"
EVENTS = Path(__file__).resolve().parent / "events"
DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
        {"Name": "TriggeredBy", "Type": "String", "DefaultValue": "schedule"},
    ],
    "Steps": [{"Name": "Fail", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}],
}


class Context:
    """What powertools reads of the Lambda context."""

    function_name = "retraining-trigger"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:retraining"
    aws_request_id = "0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b"


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        made = Clients(
            sagemaker=boto3.client("sagemaker", region_name=REGION),
            sns=boto3.client("sns", region_name=REGION),
        )
        made.sagemaker.create_pipeline(
            PipelineName=PIPELINE,
            PipelineDefinition=json.dumps(DEFINITION),
            RoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/pipeline",
        )
        yield made


@pytest.fixture
def inbox(clients: Clients) -> tuple[str, Callable[[], list[dict[str, Any]]]]:
    """A topic subscribed by a queue; returns the topic ARN and a reader of its messages."""
    sqs = boto3.client("sqs", region_name=REGION)
    topic = clients.sns.create_topic(Name="retraining")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    clients.sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )

    def read() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    return topic, read


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous)


def config(topic: str | None = None, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        "pipeline_name": PIPELINE,
        "min_interval_seconds": 24 * 3600,
        "parameters": {"ModelApprovalStatus": "PendingManualApproval"},
        "trigger_parameter": "TriggeredBy",
        "notification_topic_arn": topic,
        **overrides,
    }
    return Config(**values)


def executions(clients: Clients) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = clients.sagemaker.list_pipeline_executions(
        PipelineName=PIPELINE
    )["PipelineExecutionSummaries"]
    return listed


def _set_execution(status: str | None = None, started: datetime | None = None) -> None:
    """Give every execution moto holds a status and/or a start time."""
    pipeline = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].pipelines[PIPELINE]
    for execution in pipeline.pipeline_executions.values():
        if status is not None:
            execution.pipeline_execution_status = status
        if started is not None:
            execution.start_time = started


def test_starts_when_idle_with_parameters_and_the_alarm(clients, inbox, log_lines):
    topic, read = inbox
    outcome = process(event("alarm-drift.json"), config(topic), clients)
    assert outcome["action"] == "started"
    (listed,) = executions(clients)
    assert listed["PipelineExecutionArn"] == outcome["execution_arn"]
    parameters = clients.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=outcome["execution_arn"]
    )["PipelineParameters"]
    values = {p["Name"]: p["Value"] for p in parameters}
    assert values["ModelApprovalStatus"] == "PendingManualApproval"
    assert values["TriggeredBy"].startswith("churn-prod-drift-age: Threshold Crossed")
    (message,) = read()
    assert message["action"] == "started" and message["alarm_name"] == "churn-prod-drift-age"
    (line,) = [x for x in log_lines() if x.get("action")]
    assert line["level"] == "INFO" and line["execution_arn"] == outcome["execution_arn"]
    assert line["event_id"] == "2f8c3a1e-6b7d-4c59-9e04-7a1d2b3c4d5e"


def test_skips_while_an_execution_is_executing(clients, inbox, log_lines):
    topic, read = inbox
    clients.sagemaker.start_pipeline_execution(PipelineName=PIPELINE, ClientRequestToken="a" * 32)
    _set_execution(status="Executing", started=datetime.now(UTC) - timedelta(days=3))
    outcome = process(event("alarm-model-quality.json"), config(topic), clients)
    assert outcome["action"] == "skipped"
    assert "is Executing; at most one runs at a time" in outcome["reason"]
    assert len(executions(clients)) == 1
    (message,) = read()
    assert message["action"] == "skipped" and message["reason"] == outcome["reason"]
    (line,) = [x for x in log_lines() if x.get("action")]
    assert line["action"] == "skipped" and line["alarm_name"] == "churn-prod-auc-low"


def test_skips_while_an_execution_is_stopping(clients):
    clients.sagemaker.start_pipeline_execution(PipelineName=PIPELINE, ClientRequestToken="b" * 32)
    _set_execution(status="Stopping", started=datetime.now(UTC) - timedelta(days=3))
    outcome = process(event("alarm-drift.json"), config(), clients)
    assert outcome["action"] == "skipped" and "is Stopping" in outcome["reason"]


def test_skips_within_the_minimum_interval(clients):
    clients.sagemaker.start_pipeline_execution(PipelineName=PIPELINE, ClientRequestToken="c" * 32)
    _set_execution(status="Succeeded", started=datetime.now(UTC) - timedelta(hours=23))
    outcome = process(event("alarm-drift.json"), config(), clients)
    assert outcome["action"] == "skipped"
    assert "less than the minimum interval of 86400 s ago" in outcome["reason"]
    assert len(executions(clients)) == 1


def test_starts_once_the_minimum_interval_has_passed(clients):
    clients.sagemaker.start_pipeline_execution(PipelineName=PIPELINE, ClientRequestToken="d" * 32)
    _set_execution(status="Failed", started=datetime.now(UTC) - timedelta(hours=25))
    outcome = process(event("alarm-drift.json"), config(), clients)
    assert outcome["action"] == "started"
    assert len(executions(clients)) == 2


def test_two_alarms_at_once_start_one_execution(clients, inbox):
    """Reserved concurrency 1 serializes invocations; two threads sharing one lock play
    Lambda's part, and the second sees the first's execution and skips."""
    topic, read = inbox
    one_at_a_time = threading.Lock()
    outcomes: list[dict[str, Any]] = []

    def invoke(name: str) -> None:
        with one_at_a_time:
            outcomes.append(process(event(name), config(topic, min_interval_seconds=0), clients))
            _set_execution(status="Executing")  # moto finishes executions at once

    threads = [
        threading.Thread(target=invoke, args=(name,))
        for name in ("alarm-drift.json", "alarm-model-quality.json")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o["action"] for o in outcomes) == ["skipped", "started"]
    assert len(executions(clients)) == 1
    assert sorted(m["action"] for m in read()) == ["skipped", "started"]


def test_a_retried_event_uses_the_same_request_token(clients, monkeypatch):
    """The token is derived from the event id: SageMaker treats a retry as the same start."""
    tokens: list[str] = []
    start = clients.sagemaker.start_pipeline_execution

    def recording(**request: Any) -> Any:
        tokens.append(request["ClientRequestToken"])
        return start(**request)

    monkeypatch.setattr(clients.sagemaker, "start_pipeline_execution", recording)
    process(event("alarm-drift.json"), config(min_interval_seconds=0), clients)
    process(event("alarm-drift.json"), config(min_interval_seconds=0), clients)
    assert len(tokens) == 2 and tokens[0] == tokens[1] and len(tokens[0]) == 64


@pytest.mark.parametrize("name", ["alarm-malformed.json", "alarm-ok.json"])
def test_malformed_or_non_alarm_events_raise(clients, name):
    with pytest.raises(MalformedEvent, match="CloudWatch Alarm State Change"):
        process(event(name), config(), clients)
    assert executions(clients) == []


def test_the_handler_raises_so_the_event_reaches_the_dead_letter_queue(
    clients, monkeypatch, log_lines
):
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("MIN_INTERVAL_SECONDS", "86400")
    handler_module.reset()
    monkeypatch.setattr(handler_module, "_clients", lambda: clients)
    with pytest.raises(MalformedEvent):
        handler_module.lambda_handler(event("alarm-malformed.json"), Context())  # type: ignore[arg-type]
    (line,) = [x for x in log_lines() if x["level"] == "ERROR"]
    assert line["event_id"] == "bad0bad0-1111-4222-8333-444455556666"
    handler_module._config.cache_clear()


def test_the_handler_starts_from_its_environment(clients, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("MIN_INTERVAL_SECONDS", "3600")
    monkeypatch.setenv("PIPELINE_PARAMETERS", '{"ModelApprovalStatus": "Approved"}')
    handler_module.reset()
    monkeypatch.setattr(handler_module, "_clients", lambda: clients)
    outcome = handler_module.lambda_handler(event("alarm-drift.json"), Context())  # type: ignore[arg-type]
    assert outcome["action"] == "started"
    handler_module._config.cache_clear()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "PIPELINE_NAME: required"),
        ({"PIPELINE_NAME": "churn"}, "MIN_INTERVAL_SECONDS: required"),
        ({"PIPELINE_NAME": "churn", "MIN_INTERVAL_SECONDS": "1h"}, "whole number"),
        (
            {"PIPELINE_NAME": "churn", "MIN_INTERVAL_SECONDS": "1", "PIPELINE_PARAMETERS": "[1]"},
            "PIPELINE_PARAMETERS",
        ),
        (
            {
                "PIPELINE_NAME": "churn",
                "MIN_INTERVAL_SECONDS": "1",
                "PIPELINE_PARAMETERS": '{"A": "x"}',
                "TRIGGER_PARAMETER": "A",
            },
            "TRIGGER_PARAMETER",
        ),
        (
            {"PIPELINE_NAME": "churn", "MIN_INTERVAL_SECONDS": "1", "NOTIFICATION_TOPIC_ARN": "x"},
            "NOTIFICATION_TOPIC_ARN",
        ),
    ],
)
def test_configuration_errors_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(env)
