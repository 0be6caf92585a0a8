"""Fixtures for the approval function: moto-backed AWS, a local fake GitHub, settings."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

HERE = Path(__file__).resolve().parent
for path in (HERE.parents[1], HERE):  # the repository root (`lambdas`) and the helpers
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from approval_support import (  # noqa: E402
    BUCKET,
    GROUP,
    MANIFEST_PATH,
    MANIFEST_TEXT,
    REGION,
    REPOSITORY,
    THRESHOLDS,
    TOKEN,
    FakeGitHub,
    Outputs,
    Registry,
    serve,
)

from lambdas.approval.config import Config  # noqa: E402
from lambdas.approval.log import logger  # noqa: E402
from lambdas.approval.logic import Clients  # noqa: E402

# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _shared_clients() -> Clients:
    """Clients are slow to create (service models load), so one set serves every test.

    moto intercepts any client created after it is imported, whenever a mock is active.
    """
    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name=REGION,
    )
    return Clients(
        sagemaker=session.client("sagemaker"),
        s3=session.client("s3"),
        sns=session.client("sns"),
        sqs=session.client("sqs"),
        secretsmanager=session.client("secretsmanager"),
    )


@pytest.fixture
def clients(_shared_clients: Clients, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    """moto-backed clients (fresh state), with the model package group and the bucket."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)  # for clients the handler creates itself
    with mock_aws():
        _shared_clients.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        _shared_clients.s3.create_bucket(Bucket=BUCKET)
        yield _shared_clients


@pytest.fixture
def registry(clients: Clients) -> Registry:
    return Registry(clients)


@pytest.fixture
def outputs(clients: Clients) -> Outputs:
    """The notification topic (subscribed by an inbox queue) and the dead-letter queue."""
    topic = clients.sns.create_topic(Name="model-approval")["TopicArn"]
    inbox = clients.sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = clients.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    clients.sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"]
    )
    dlq = clients.sqs.create_queue(QueueName="model-approval-dlq")["QueueUrl"]
    return Outputs(clients, topic, inbox, dlq)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """A fake GitHub whose `main` holds the repository's real promotion manifest."""
    fake = FakeGitHub()
    fake.seed("main", MANIFEST_PATH, MANIFEST_TEXT)
    server = serve(fake)
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def secret_arn(clients: Clients) -> str:
    created = clients.secretsmanager.create_secret(Name="github-token", SecretString=TOKEN)
    arn: str = created["ARN"]
    return arn


@pytest.fixture
def make_config(outputs: Outputs, github: FakeGitHub, secret_arn: str) -> Callable[..., Config]:
    """Settings pointing at the fixtures' resources; keyword arguments override fields."""

    def make(**overrides: Any) -> Config:
        config = Config(
            model_package_group_name=GROUP,
            approval_policy="auto",
            quality_thresholds=THRESHOLDS,
            primary_metric="accuracy",
            notification_topic_arn=outputs.topic_arn,
            dead_letter_queue_url=outputs.dlq_url,
            github_repository=REPOSITORY,
            github_token_secret_arn=secret_arn,
            github_api_url=github.url,
        )
        return replace(config, **overrides)

    return make


@pytest.fixture
def sleeps() -> list[float]:
    """Records the backoff sleeps instead of sleeping."""
    return []


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The function's structured log lines, parsed (the logger writes JSON to stdout)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous)
