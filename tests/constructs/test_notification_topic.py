"""NotificationTopic: encrypted, TLS-only, and CloudWatch alarms of this account may publish."""

from __future__ import annotations

import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.notification_topic import NotificationTopic


def topic(stack, **kwargs):  # type: ignore[no-untyped-def]
    key = kms.Key(stack, "Key")
    return NotificationTopic(stack, "Topic", key=key, display_name="Alarms", **kwargs), key


def test_topic_is_encrypted_with_the_key(stack):
    topic(stack)
    t = Template.from_stack(stack)
    (key_id,) = t.find_resources("AWS::KMS::Key")
    t.has_resource_properties(
        "AWS::SNS::Topic",
        {"DisplayName": "Alarms", "KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}},
    )


def test_only_this_accounts_alarms_and_tls_may_publish(stack):
    topic(stack)
    statements = Template.from_stack(stack).find_resources("AWS::SNS::TopicPolicy")
    (policy,) = statements.values()
    by_sid = {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    alarms = by_sid["AllowAlarmsOfThisAccount"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == "sns:Publish"
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
    assert alarms["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:111111111111:alarm:*"
    }
    denies = [s for s in by_sid.values() if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def key_statements(stack):  # type: ignore[no-untyped-def]
    """The created or given key's policy statements for service principals, by service."""
    (key,) = Template.from_stack(stack).find_resources("AWS::KMS::Key").values()
    return {
        s["Principal"]["Service"]: s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if "Service" in s["Principal"]
    }


def test_only_this_accounts_alarms_may_use_the_key(stack):
    """CloudWatch only for this account's alarms (confused deputy); nothing else."""
    topic(stack)
    statements = key_statements(stack)
    assert sorted(statements) == ["cloudwatch.amazonaws.com"]
    alarms = statements["cloudwatch.amazonaws.com"]
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111111111111"},
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:111111111111:alarm:*"},
    }


def test_event_rules_may_use_the_key_only_when_allowed(stack):
    """EventBridge without source conditions, which its KMS requests do not carry."""
    created, _ = topic(stack)
    created.allow_event_rules()
    events = key_statements(stack)["events.amazonaws.com"]
    assert events["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "Condition" not in events


def test_without_a_key_the_topic_has_its_own_rotating_key(stack):
    created = NotificationTopic(stack, "Topic", display_name="Alarms")
    t = Template.from_stack(stack)
    (key_id,) = t.find_resources("AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}})
    assert created.key.node.scope is created
    t.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    assert sorted(key_statements(stack)) == ["cloudwatch.amazonaws.com"]


def test_topic_is_the_default_child(stack):
    created, _ = topic(stack)
    assert created.node.default_child is created.topic


@pytest.mark.parametrize(
    ("display_name", "message"),
    [
        ("", "NotificationTopic display_name: got ''; allowed 1-100 characters"),
        ("x" * 101, "NotificationTopic display_name: got 'x{101}'; allowed 1-100"),
        (7, "NotificationTopic display_name: got an int 7; allowed 1-100"),
    ],
)
def test_display_name_limits(stack, display_name, message):
    with pytest.raises(ConfigurationError, match=message):
        NotificationTopic(stack, "Topic", key=kms.Key(stack, "Key"), display_name=display_name)


def test_key_must_be_a_key(stack):
    with pytest.raises(ConfigurationError, match="NotificationTopic key: got a str 'k'; allowed"):
        NotificationTopic(stack, "Topic", key="k", display_name="Alarms")  # type: ignore[arg-type]
