"""EndpointAlarms: encrypted topic, alarms wired to it and to rollback, dashboard."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from constructs_lib.endpoint_alarms import AlarmThresholds, EndpointAlarms
from constructs_lib.errors import ConfigurationError
from constructs_lib.realtime_endpoint import TrafficShift
from tests.constructs.serving import endpoint


def alarms(stack, **kwargs):
    ep = endpoint(stack, traffic_shift=TrafficShift(type="CANARY", step_percent=10))
    from aws_cdk import aws_kms as kms

    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    return ep, EndpointAlarms(stack, "Alarms", endpoint=ep, topic_key=key, **kwargs)


def test_topic_is_encrypted_and_tls_only(stack):
    alarms(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    t.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    # CloudWatch may use the key to publish to the encrypted topic.
    (key,) = [
        k for k in t.find_resources("AWS::KMS::Key").values() if "cloudwatch" in json.dumps(k)
    ]
    assert "kms:GenerateDataKey*" in json.dumps(key)


def test_alarm_thresholds_and_actions(stack):
    alarms(stack, thresholds=AlarmThresholds(model_latency_p99_ms=250, errors_5xx_per_minute=2))
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": 250_000,
            "AlarmActions": [{"Ref": Match.string_like_regexp("Topic")}],
        },
    )
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "Invocation5XXErrors", "Threshold": 2, "Statistic": "Sum"},
    )
    names = {
        a["Properties"]["MetricName"] for a in t.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert names == {
        "ModelLatency",
        "Invocation5XXErrors",
        "Invocation4XXErrors",
        "CPUUtilization",
        "MemoryUtilization",
    }


def test_5xx_and_latency_alarms_roll_back_updates(stack):
    ep, a = alarms(stack)
    assert ep.rollback_alarms == (a.errors_5xx, a.model_latency)
    (endpoint_resource,) = (
        Template.from_stack(stack).find_resources("AWS::SageMaker::Endpoint").values()
    )
    rollback = endpoint_resource["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]
    assert len(rollback["Alarms"]) == 2


def test_dashboard_shows_endpoint_metrics(stack):
    alarms(stack)
    (dashboard,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("Invocations", "Invocation5XXErrors", "ModelLatency", "CPUUtilization"):
        assert metric in body


def test_drift_features_need_a_monitor(stack):
    with pytest.raises(
        ConfigurationError, match=r"monitoring.drift_features: got \['age'\] but no monitor"
    ):
        alarms(stack, drift_features=["age"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model_latency_p99_ms", 0, "alarms.model_latency_p99_ms: got 0; must be at least 1"),
        ("cpu_utilization_percent", 0, "alarms.cpu_utilization_percent: got 0; allowed 1 to 10000"),
        ("evaluation_minutes", 61, "alarms.evaluation_minutes: got 61; allowed 1 to 60"),
    ],
)
def test_bad_thresholds_are_named(field, value, message):
    with pytest.raises(ConfigurationError, match=message):
        AlarmThresholds(**{field: value})


def test_baking_period_shorter_than_alarm_window_is_refused(stack):
    from aws_cdk import Duration
    from aws_cdk import aws_kms as kms

    ep = endpoint(stack, traffic_shift=TrafficShift(wait_interval=Duration.seconds(60)))
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    with pytest.raises(
        ConfigurationError,
        match=r"endpoint.deployment.wait_interval: got 60 s; the rollback alarms need 180 s",
    ):
        EndpointAlarms(stack, "Alarms", endpoint=ep, topic_key=key)


def test_cloudwatch_alarms_may_publish_to_the_topic(stack):
    alarms(stack)
    t = Template.from_stack(stack)
    (policy,) = t.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s.get("Sid") == "AllowAlarmsOfThisAccount"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
