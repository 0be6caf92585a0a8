"""Confused deputy, across the whole synthesized app: every grant to an AWS service
principal (trust policies, key, topic, queue and bucket policies, Lambda permissions)
names its source account or resource, or is one AWS documents as impossible to condition
(`tests/support/principals.DOCUMENTED_IMPOSSIBLE`, each with its reason)."""

from __future__ import annotations

import json

import pytest

from tests.app.conftest import BUILD, CLASSIFIER_BUILD, STACKS, Synthesized
from tests.support.principals import (
    DOCUMENTED_IMPOSSIBLE,
    names_its_source,
    service_grants,
    unconditioned,
)

MESSAGING = ("sns", "sqs", "events", "cloudwatch")
"""Services whose use of a key makes it a messaging key."""


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_principal_names_its_source(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.templates[stack]
    grants = service_grants(template, stack)
    assert unconditioned(grants, synthesized.account(stack), template) == []


def test_sagemaker_assumes_roles_only_for_this_accounts_resources(
    synthesized: Synthesized,
) -> None:
    """Pipeline, model and monitor roles: SageMaker's documented aws:SourceArn pattern."""
    seen = 0
    for stack in STACKS:
        account = synthesized.account(stack)
        for grant in service_grants(synthesized.templates[stack], stack):
            if grant.service == "sagemaker.amazonaws.com":
                seen += 1
                assert grant.condition == {
                    "aws:sourcearn": f"arn:aws:sagemaker:eu-west-1:{account}:*"
                }, grant.where
    assert seen >= 3


def test_the_only_unconditioned_grants_are_the_documented_ones(synthesized: Synthesized) -> None:
    """What is excused is exactly EventBridge on the topic and the messaging key (build
    stack), on the batch stacks' failure topics, on the environments' messaging key
    (alarm topics, batch failure notifications, the alarm forwarding's dead-letter queue)
    and Lambda execution roles; the rules' queues and permissions name the rule."""
    excused = {
        (grant.service, grant.kind, stack == BUILD or "-batch-" in stack, grant.resource)
        for stack in STACKS
        for grant in service_grants(synthesized.templates[stack], stack)
        if not names_its_source(grant, synthesized.account(stack), synthesized.templates[stack])
    }
    assert {(s, k) for s, k, _, _ in excused} <= set(DOCUMENTED_IMPOSSIBLE)
    events = {(k, in_build) for s, k, in_build, _ in excused if s == "events.amazonaws.com"}
    assert events == {
        ("AWS::SNS::TopicPolicy", True),
        ("AWS::KMS::Key", True),
        ("AWS::KMS::Key", False),
    }
    environment_keys = {
        r for s, _, in_build, r in excused if s == "events.amazonaws.com" and not in_build
    }
    assert all(r.startswith("MessagingKey") for r in environment_keys), environment_keys


def test_artifact_key_mentions_no_messaging_service(synthesized: Synthesized) -> None:
    """The build artifact key: its owners, S3 use, and the deploy accounts' decrypt
    through S3 reads of the bucket; the topic and dead-letter queues have their own key."""
    template = synthesized.templates[BUILD]
    buckets = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    artifact_keys = {
        json.dumps(b["Properties"]["BucketEncryption"]).split('"Fn::GetAtt": ["')[1].split('"')[0]
        for b in buckets
        if "aws:kms" in json.dumps(b["Properties"].get("BucketEncryption", {}))
    }
    assert artifact_keys
    for key_id in artifact_keys:
        statements = template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
        assert [s["Principal"] for s in statements if "Service" in s["Principal"]] == []
        via = {json.dumps(s.get("Condition", {}).get("StringEquals", {})) for s in statements}
        for service in MESSAGING:
            assert not any(f'"{service}.' in v for v in via), (key_id, service)
    topic = next(r for r in template["Resources"].values() if r["Type"] == "AWS::SNS::Topic")
    (messaging_key,) = [v for v in topic["Properties"]["KmsMasterKeyId"].values()]
    assert messaging_key[0] not in artifact_keys
    assert template["Resources"][messaging_key[0]]["Properties"]["EnableKeyRotation"] is True


def test_dead_letter_queues_use_the_messaging_key(synthesized: Synthesized) -> None:
    topic = next(
        r
        for r in synthesized.templates[BUILD]["Resources"].values()
        if r["Type"] == "AWS::SNS::Topic"
    )
    messaging_key = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    queues = [
        r
        for r in synthesized.templates[CLASSIFIER_BUILD]["Resources"].values()
        if r["Type"] == "AWS::SQS::Queue"
    ]
    assert len(queues) >= 3  # approval, pipeline failures, retraining
    for queue in queues:
        assert messaging_key in json.dumps(queue["Properties"]["KmsMasterKeyId"])
