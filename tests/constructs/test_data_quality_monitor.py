"""DataQualityMonitor: job definition, schedule, deploy-time baseline lookup, drift alarms."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.data_quality_monitor import DataQualityMonitor
from constructs_lib.errors import ConfigurationError
from tests.constructs.serving import PACKAGE_ARN, build_bucket, endpoint


def monitor(stack, **kwargs):
    ep = endpoint(stack)
    store = ArtifactStore(stack, "MonitorStore")
    kwargs.setdefault("schedule_expression", "cron(0 * ? * * *)")
    return DataQualityMonitor(
        stack,
        "Monitor",
        endpoint=ep,
        model_package_arn=PACKAGE_ARN,
        baseline_bucket=build_bucket(stack),
        baseline_prefix="pipelines/churn/",
        output_bucket=store.bucket,
        output_prefix="monitoring/churn-test",
        capture_prefix="datacapture/churn-test",
        kms_key=store.key,
        **kwargs,
    )


def test_schedule_runs_the_job_definition_on_the_endpoint(stack):
    m = monitor(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleName": "churn-test-data-quality",
            "EndpointName": "churn-test",
            "MonitoringScheduleConfig": {
                "MonitoringJobDefinitionName": m.job_definition_name,
                "MonitoringType": "DataQuality",
                "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
            },
        },
    )
    t.has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "JobDefinitionName": m.job_definition_name,
            "DataQualityAppSpecification": {
                "ImageUri": "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer:latest",
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            "DataQualityJobInput": {
                "EndpointInput": Match.object_like({"EndpointName": "churn-test"})
            },
            "JobResources": {
                "ClusterConfig": Match.object_like(
                    {"InstanceType": "ml.m5.large", "VolumeKmsKeyId": Match.any_value()}
                )
            },
            "NetworkConfig": {"EnableNetworkIsolation": True},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    )


def test_baseline_comes_from_the_pinned_package_at_deploy_time(stack):
    monitor(stack)
    t = Template.from_stack(stack)
    (lookup,) = t.find_resources("Custom::AWS").values()
    create = json.dumps(lookup["Properties"])
    assert "describeModelPackage" in create
    assert PACKAGE_ARN in create
    (job,) = t.find_resources("AWS::SageMaker::DataQualityJobDefinition").values()
    baseline = job["Properties"]["DataQualityBaselineConfig"]
    assert baseline["StatisticsResource"]["S3Uri"]["Fn::GetAtt"][1] == (
        "ModelMetrics.ModelDataQuality.Statistics.S3Uri"
    )
    assert baseline["ConstraintsResource"]["S3Uri"]["Fn::GetAtt"][1] == (
        "ModelMetrics.ModelDataQuality.Constraints.S3Uri"
    )
    # The lookup may describe that one package and nothing else.
    policies = t.find_resources("AWS::IAM::Policy")
    describe = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "sagemaker:DescribeModelPackage"
    ]
    assert [s["Resource"] for s in describe] == [PACKAGE_ARN]


def test_job_definition_name_changes_with_content(stack):
    from aws_cdk import App, Environment, Stack

    names = set()
    for schedule in ("cron(0 * ? * * *)", "cron(0 0 ? * * *)"):
        for instance_type in ("ml.m5.large", "ml.m5.xlarge"):
            s = Stack(App(), "S", env=Environment(account="111111111111", region="eu-west-1"))
            names.add(
                monitor(
                    s, schedule_expression=schedule, instance_type=instance_type
                ).job_definition_name
            )
    assert len(names) == 2  # the schedule is not part of the job definition


def test_drift_alarm_per_feature(stack):
    m = monitor(stack)
    alarms = m.drift_alarms(["age", "income"], 0.3)
    assert len(alarms) == 2
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "aws/sagemaker/Endpoints/data-metrics",
            "MetricName": "feature_baseline_drift_age",
            "Dimensions": Match.array_with(
                [{"Name": "MonitoringSchedule", "Value": "churn-test-data-quality"}]
            ),
            "Threshold": 0.3,
        },
    )


def test_bad_schedule_is_named(stack):
    with pytest.raises(ConfigurationError, match=r"monitoring.schedule_expression: got 'hourly'"):
        monitor(stack, schedule_expression="hourly")


def test_bad_drift_threshold_is_named(stack):
    with pytest.raises(ConfigurationError, match="monitoring.drift_threshold: got 2"):
        monitor(stack).drift_alarms(["age"], 2)


def test_bad_feature_name_is_named(stack):
    with pytest.raises(ConfigurationError, match="monitoring feature: got 'a b'"):
        monitor(stack).metric_feature_drift("a b")


def test_schedule_waits_for_endpoint_and_job_definition(stack):
    m = monitor(stack)
    t = Template.from_stack(stack)
    (schedule,) = t.find_resources("AWS::SageMaker::MonitoringSchedule").values()
    depends = set(schedule["DependsOn"])
    assert stack.get_logical_id(m.job_definition) in depends
    assert stack.get_logical_id(m.endpoint.resource) in depends


def test_job_definition_name_changes_with_the_pinned_package(stack):
    from aws_cdk import App, Environment, Stack

    names = set()
    for version in (7, 8):
        s = Stack(App(), "S", env=Environment(account="111111111111", region="eu-west-1"))
        ep = endpoint(s)
        store = ArtifactStore(s, "MonitorStore")
        names.add(
            DataQualityMonitor(
                s,
                "Monitor",
                endpoint=ep,
                model_package_arn=PACKAGE_ARN.replace("/7", f"/{version}"),
                baseline_bucket=build_bucket(s),
                baseline_prefix="pipelines/churn/",
                output_bucket=store.bucket,
                output_prefix="monitoring/churn-test",
                capture_prefix="datacapture/churn-test",
            ).job_definition_name
        )
    assert len(names) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"volume_size_in_gb": 0}, "monitoring.volume_size_in_gb: got 0; allowed 1 to 16384"),
        (
            {"max_runtime": Duration.hours(2)},
            "monitoring.max_runtime: got 7200 s; allowed 1 to 3600 s",
        ),
    ],
)
def test_job_limits_are_named(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        monitor(stack, **kwargs)


def test_monitor_image_for_unknown_or_unresolved_region():
    from aws_cdk import Aws

    from constructs_lib.images import model_monitor_image

    assert model_monitor_image("us-east-1").startswith("156813124566.dkr.ecr.us-east-1.")
    with pytest.raises(
        ConfigurationError, match="no Model Monitor image known for region 'xx-east-9'"
    ):
        model_monitor_image("xx-east-9")
    with pytest.raises(ConfigurationError, match="region is unresolved"):
        model_monitor_image(Aws.REGION)
