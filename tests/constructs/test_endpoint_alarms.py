"""EndpointAlarms: encrypted topic, alarms wired to it and to rollback, dashboard."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from constructs_lib.endpoint_alarms import AlarmThresholds, EndpointAlarms
from constructs_lib.errors import ConfigurationError
from constructs_lib.realtime_endpoint import TrafficShift
from tests.constructs.serving import endpoint, serverless_endpoint


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
        ConfigurationError,
        match=r"EndpointAlarms drift_features: got \['age'\]; allowed none without a monitor",
    ):
        alarms(stack, drift_features=["age"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "model_latency_p99_ms",
            0,
            "AlarmThresholds model_latency_p99_ms: got 0; allowed a whole number from 1 up",
        ),
        (
            "cpu_utilization_percent",
            0,
            "AlarmThresholds cpu_utilization_percent: got 0; allowed a whole number from 1 up",
        ),
        (
            "memory_utilization_percent",
            101,
            "AlarmThresholds memory_utilization_percent: got 101; allowed a whole number from 1 to 100",
        ),
        (
            "concurrency_utilization_percent",
            0,
            "AlarmThresholds concurrency_utilization_percent: got 0; allowed a whole number",
        ),
        (
            "evaluation_minutes",
            61,
            "AlarmThresholds evaluation_minutes: got 61; allowed a whole number from 1 to 60",
        ),
        (
            "errors_5xx_per_minute",
            "5",
            "AlarmThresholds errors_5xx_per_minute: got a str '5'; allowed a whole number",
        ),
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
        match=r"EndpointAlarms thresholds: got evaluation_minutes=3 \(180 s of data\); allowed at"
        r" most the endpoint's traffic_shift wait_interval \(60 s\)",
    ):
        EndpointAlarms(stack, "Alarms", endpoint=ep, topic_key=key)


def test_baking_period_is_checked_even_when_the_endpoint_has_rollback_alarms(stack):
    """An alarm added first (or a second EndpointAlarms) does not skip the check."""
    from aws_cdk import Duration
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_kms as kms

    ep = endpoint(stack, traffic_shift=TrafficShift(wait_interval=Duration.seconds(60)))
    ep.add_rollback_alarm(
        cloudwatch.Alarm(
            stack, "Own", metric=ep.metric_invocations(), threshold=1, evaluation_periods=1
        )
    )
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    with pytest.raises(
        ConfigurationError, match="EndpointAlarms thresholds: got evaluation_minutes"
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


def test_default_child_is_the_dashboard(stack):
    _, a = alarms(stack)
    assert a.node.default_child is a.dashboard


def serverless_alarms(stack, **kwargs):
    from aws_cdk import aws_kms as kms

    ep = serverless_endpoint(stack)
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    return EndpointAlarms(stack, "Alarms", endpoint=ep, topic_key=key, **kwargs)


def test_serverless_endpoint_alarms_on_what_serverless_publishes(stack):
    a = serverless_alarms(stack, thresholds=AlarmThresholds(concurrency_utilization_percent=90))
    assert a.cpu is None
    t = Template.from_stack(stack)
    names = {
        (p["Properties"]["Namespace"], p["Properties"]["MetricName"])
        for p in t.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert names == {
        ("AWS/SageMaker", "ModelLatency"),
        ("AWS/SageMaker", "Invocation5XXErrors"),
        ("AWS/SageMaker", "Invocation4XXErrors"),
        ("AWS/SageMaker", "MemoryUtilization"),
        ("AWS/SageMaker", "ServerlessConcurrentExecutionsUtilization"),
    }
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ServerlessConcurrentExecutionsUtilization", "Threshold": 0.9},
    )


def test_cpu_threshold_on_serverless_is_refused(stack):
    with pytest.raises(
        ConfigurationError,
        match=r"EndpointAlarms thresholds: got cpu_utilization_percent=90; allowed"
        r" cpu_utilization_percent=None for a serverless endpoint",
    ):
        serverless_alarms(stack, thresholds=AlarmThresholds(cpu_utilization_percent=90))


def test_concurrency_threshold_on_instances_is_refused(stack):
    with pytest.raises(
        ConfigurationError,
        match=r"EndpointAlarms thresholds: got concurrency_utilization_percent=90; allowed"
        r" concurrency_utilization_percent=None for an instance endpoint",
    ):
        alarms(stack, thresholds=AlarmThresholds(concurrency_utilization_percent=90))


def test_endpoint_given_by_name_is_refused(stack):
    from aws_cdk import aws_kms as kms

    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    with pytest.raises(
        ConfigurationError, match="EndpointAlarms endpoint: got a str 'churn'; allowed a"
    ):
        EndpointAlarms(stack, "Alarms", endpoint="churn", topic_key=key)  # type: ignore[arg-type]


def test_thresholds_given_as_a_dict_are_refused(stack):
    with pytest.raises(
        ConfigurationError,
        match="EndpointAlarms thresholds: got a dict .*; allowed an AlarmThresholds",
    ):
        alarms(stack, thresholds={"model_latency_p99_ms": 300})


def test_drift_threshold_outside_0_1(stack):
    with pytest.raises(
        ConfigurationError,
        match="EndpointAlarms drift_threshold: got 0; allowed a number above 0 up to 1",
    ):
        alarms(stack, drift_threshold=0)


def test_monitor_of_another_endpoint_is_refused(stack):
    from aws_cdk import App, Environment, Stack
    from aws_cdk import aws_kms as kms

    from tests.constructs.test_data_quality_monitor import monitor

    other = Stack(App(), "Other", env=Environment(account="111111111111", region="eu-west-1"))
    foreign = monitor(other)
    ep = endpoint(stack, endpoint_name="churn-b")
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    with pytest.raises(
        ConfigurationError,
        match="EndpointAlarms monitor: got a DataQualityMonitor of endpoint 'churn-test'; allowed"
        " a DataQualityMonitor of this endpoint",
    ):
        EndpointAlarms(stack, "Alarms", endpoint=ep, topic_key=key, monitor=foreign)


def test_drift_alarms_notify_on_alarm_and_ok(stack):
    from aws_cdk import aws_kms as kms

    from tests.constructs.test_data_quality_monitor import monitor

    m = monitor(stack)
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    EndpointAlarms(
        stack, "Alarms", endpoint=m.endpoint, topic_key=key, monitor=m, drift_features=["age"]
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "feature_baseline_drift_age",
            "AlarmActions": [{"Ref": Match.string_like_regexp("Topic")}],
            "OKActions": [{"Ref": Match.string_like_regexp("Topic")}],
        },
    )


def quality_alarms(stack):
    """EndpointAlarms and a ModelQualityMonitor of the same endpoint."""
    from aws_cdk import aws_kms as kms

    from tests.constructs.test_model_quality_monitor import monitor

    quality = monitor(stack)
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    return quality, EndpointAlarms(stack, "Alarms", endpoint=quality.endpoint, topic_key=key)


def test_add_monitor_notifies_and_adds_a_dashboard_row(stack):
    from constructs_lib.metrics import MetricThreshold

    quality, watched = quality_alarms(stack)
    auc = quality.alarm(MetricThreshold(metric="auc", minimum=0.8))
    watched.add_monitor(quality, alarms=[auc], metrics=["auc", "accuracy"])
    assert watched.monitor_alarms == [auc] and auc in watched.alarms
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "auc",
            "AlarmActions": [{"Ref": Match.string_like_regexp("Topic")}],
            "OKActions": [{"Ref": Match.string_like_regexp("Topic")}],
        },
    )
    (dashboard,) = t.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "Model quality: violations" in body and "Model quality metrics" in body
    assert "aws/sagemaker/Endpoints/model-metrics" in body and '\\"accuracy\\"' in body


def test_data_quality_gets_its_violations_row(stack):
    from aws_cdk import aws_kms as kms

    from tests.constructs.test_data_quality_monitor import monitor

    m = monitor(stack)
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    EndpointAlarms(
        stack, "Alarms", endpoint=m.endpoint, topic_key=key, monitor=m, drift_features=["age"]
    )
    (dashboard,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "Data quality: violations" in body and "Feature drift from baseline" in body


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"monitor": "churn-dq"}, "monitor: got a str 'churn-dq'; allowed a monitor"),
        ({"alarms": "auc"}, "alarms: got 'auc'; allowed a list of cloudwatch.IAlarm"),
        ({"alarms": ["auc"]}, r"alarms\[0\]: got a str 'auc'; allowed a cloudwatch.IAlarm"),
        ({"metrics": "auc"}, "metrics: got 'auc'; allowed a list of up to 20 metric names"),
        ({"metrics": ["m"] * 21}, "metrics: got 21 metrics; allowed at most 20"),
        ({"metrics": [3]}, r"metrics\[0\]: got an int 3; allowed a name or IMetric"),
        ({"title": 3}, "title: got an int 3; allowed a row title"),
    ],
)
def test_add_monitor_invalid_props(stack, kwargs, match):
    quality, watched = quality_alarms(stack)
    kwargs.setdefault("monitor", quality)
    with pytest.raises(ConfigurationError, match=f"^EndpointAlarms.add_monitor {match}"):
        watched.add_monitor(**kwargs)


def test_add_monitor_of_another_endpoint_is_refused(stack):
    from aws_cdk import App, Environment, Stack
    from aws_cdk import aws_kms as kms

    from tests.constructs.test_model_quality_monitor import monitor

    quality = monitor(stack)
    elsewhere = Stack(App(), "Other", env=Environment(account="111111111111", region="eu-west-1"))
    ep = endpoint(elsewhere, endpoint_name="churn-b")
    key = kms.Key(elsewhere, "TopicKey", enable_key_rotation=True)
    watched = EndpointAlarms(elsewhere, "Alarms", endpoint=ep, topic_key=key)
    with pytest.raises(
        ConfigurationError,
        match="EndpointAlarms.add_monitor monitor: got a monitor of endpoint 'churn-test';"
        " allowed a monitor of this endpoint",
    ):
        watched.add_monitor(quality)
