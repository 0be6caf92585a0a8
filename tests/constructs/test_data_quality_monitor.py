"""DataQualityMonitor: job definition, schedule, deploy-time baseline lookup, drift alarms."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.data_quality_monitor import DataQualityMonitor
from constructs_lib.errors import ConfigurationError
from tests.constructs.serving import PACKAGE_ARN, build_bucket, endpoint, serverless_endpoint


def monitor(stack, *, ep=None, **kwargs):
    ep = ep if ep is not None else endpoint(stack)
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
        output_prefix="monitoring/churn-test/",
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
                # As AWS documents it: no version tag exists, and never :latest.
                "ImageUri": "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer",
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
            "NetworkConfig": {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
            },
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
    with pytest.raises(
        ConfigurationError,
        match=r"DataQualityMonitor schedule_expression: got 'hourly'; allowed cron\(0 \* \? \* \* \*\)",
    ):
        monitor(stack, schedule_expression="hourly")


def test_schedule_outside_model_monitor_forms(stack):
    with pytest.raises(
        ConfigurationError, match=r"DataQualityMonitor schedule_expression: got 'cron\(0 0/25"
    ):
        monitor(stack, schedule_expression="cron(0 0/25 ? * * *)")


def test_bad_drift_threshold_is_named(stack):
    with pytest.raises(
        ConfigurationError,
        match="DataQualityMonitor.drift_alarms threshold: got 2; allowed a number above 0 up to 1",
    ):
        monitor(stack).drift_alarms(["age"], 2)


def test_bad_feature_name_is_named(stack):
    with pytest.raises(
        ConfigurationError,
        match="DataQualityMonitor.metric_feature_drift feature: got 'a/b'; allowed a column name",
    ):
        monitor(stack).metric_feature_drift("a/b")


def test_metric_takes_any_metric_option(stack):
    m = monitor(stack)
    drift = m.metric_feature_drift("age", color="#00ff00", statistic="Average")
    assert (drift.color, drift.statistic, drift.metric_name) == (
        "#00ff00",
        "Average",
        "feature_baseline_drift_age",
    )
    assert drift.dimensions == {
        "Endpoint": "churn-test",
        "MonitoringSchedule": "churn-test-data-quality",
    }
    assert m.metric("feature_fraction_present_in_baseline_age").period.to_seconds() == 3600


def test_default_child_is_the_schedule(stack):
    m = monitor(stack)
    assert m.node.default_child is m.resource


def test_reads_captured_data_where_the_endpoint_writes_it(stack):
    monitor(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("^MonitorRole")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["s3:GetObject*"]),
                                "Resource": Match.array_with(
                                    [
                                        {
                                            "Fn::Join": [
                                                "",
                                                [
                                                    {
                                                        "Fn::GetAtt": [
                                                            Match.string_like_regexp("^Store"),
                                                            "Arn",
                                                        ]
                                                    },
                                                    "/datacapture/churn/*",
                                                ],
                                            ]
                                        }
                                    ]
                                ),
                            }
                        )
                    ]
                )
            },
        },
    )


def test_serverless_endpoint_is_refused(stack):
    with pytest.raises(
        ConfigurationError,
        match="DataQualityMonitor endpoint: got 'churn-test' with a ServerlessVariant; allowed an"
        " endpoint with an InstanceVariant",
    ):
        monitor(stack, ep=serverless_endpoint(stack))


def test_endpoint_without_data_capture_is_refused(stack):
    with pytest.raises(
        ConfigurationError,
        match="DataQualityMonitor endpoint: got 'churn-test' without data_capture; allowed an"
        " endpoint with data_capture",
    ):
        monitor(stack, ep=endpoint(stack, data_capture=None))


def test_endpoint_given_by_name_is_refused(stack):
    with pytest.raises(
        ConfigurationError,
        match="DataQualityMonitor endpoint: got a str 'churn-test'; allowed a RealtimeEndpoint",
    ):
        monitor(stack, ep="churn-test")


@pytest.mark.parametrize(
    ("prop", "value"), [("output_prefix", "monitoring/churn"), ("baseline_prefix", "pipelines/*")]
)
def test_prefixes_must_be_folders(stack, prop, value):
    ep = endpoint(stack)
    store = ArtifactStore(stack, "MonitorStore")
    props = {
        "baseline_prefix": "pipelines/churn/",
        "output_prefix": "monitoring/churn-test/",
        prop: value,
    }
    with pytest.raises(ConfigurationError, match=f"DataQualityMonitor {prop}: got"):
        DataQualityMonitor(
            stack,
            "Monitor",
            endpoint=ep,
            model_package_arn=PACKAGE_ARN,
            baseline_bucket=build_bucket(stack),
            output_bucket=store.bucket,
            **props,
        )


def test_bad_instance_type_is_named(stack):
    with pytest.raises(
        ConfigurationError, match="DataQualityMonitor instance_type: got 'large'; allowed ml."
    ):
        monitor(stack, instance_type="large")


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
                output_prefix="monitoring/churn-test/",
            ).job_definition_name
        )
    assert len(names) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"volume_size_in_gb": 0},
            "DataQualityMonitor volume_size_in_gb: got 0; allowed a whole number from 1 to 16384",
        ),
        (
            {"volume_size_in_gb": "20"},
            "DataQualityMonitor volume_size_in_gb: got a str '20'; allowed a whole number",
        ),
        (
            {"max_runtime": Duration.hours(2)},
            "DataQualityMonitor max_runtime: got 7200 s; allowed a Duration from 1 s to 3600 s",
        ),
        (
            {"schedule_expression": "cron(0 0/6 ? * * *)", "max_runtime": Duration.hours(7)},
            "DataQualityMonitor max_runtime: got 25200 s; allowed a Duration from 1 s to 21600 s",
        ),
        (
            {"max_runtime": 3600},
            "DataQualityMonitor max_runtime: got an int 3600; allowed a Duration",
        ),
    ],
)
def test_job_limits_are_named(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        monitor(stack, **kwargs)


def test_daily_schedule_may_run_longer_than_an_hour(stack):
    monitor(stack, schedule_expression="cron(0 0 ? * * *)", max_runtime=Duration.hours(4))
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {"StoppingCondition": {"MaxRuntimeInSeconds": 14400}},
    )


def test_monitor_image_for_unknown_or_unresolved_region():
    from aws_cdk import Aws

    from constructs_lib.images import model_monitor_image

    assert model_monitor_image("us-east-1").startswith("156813124566.dkr.ecr.us-east-1.")
    with pytest.raises(
        ConfigurationError,
        match="model_monitor_image region: got 'xx-east-9'; allowed a region with a known",
    ):
        model_monitor_image("xx-east-9")
    with pytest.raises(
        ConfigurationError, match="model_monitor_image region: got an unresolved token"
    ):
        model_monitor_image(Aws.REGION)


def test_long_endpoint_names_give_distinct_schedule_names_within_limits(stack):
    """Two endpoints whose names share their first 50 characters still get their own
    schedule (names are cut to fit SageMaker's 63 characters, with a hash)."""
    from aws_cdk import App, Environment, Stack

    names = []
    for suffix in ("a", "b"):
        app_stack = Stack(App(), "S", env=Environment(account="111111111111", region="eu-west-1"))
        ep = endpoint(app_stack, endpoint_name="x" * 55 + suffix)
        names.append(monitor(app_stack, ep=ep).schedule_name)
    assert names[0] != names[1]
    assert all(len(n) <= 63 and n.startswith("x" * 41) for n in names)
    short = monitor(stack).schedule_name
    assert short == "churn-test-data-quality"  # short names are kept as they are


def test_volume_key_grants_only_for_aws_resources(stack):
    """The monitor role may create grants on its key only for SageMaker's volumes."""
    monitor(stack)
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    statements = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "kms:CreateGrant" in json.dumps(s["Action"])
    ]
    assert statements
    for statement in statements:
        assert statement["Action"] == "kms:CreateGrant"
        assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
GROUPS = ["sg-0123456789abcdef0"]


def test_monitoring_jobs_run_in_the_given_vpc(stack):
    from aws_cdk import aws_ec2 as ec2

    from constructs_lib.vpc_config import VpcConfig

    group = ec2.SecurityGroup.from_security_group_id(stack, "Group", GROUPS[0])
    subnets = [ec2.Subnet.from_subnet_id(stack, f"Subnet{i}", s) for i, s in enumerate(SUBNETS)]
    monitor(stack, vpc=VpcConfig(subnets=subnets, security_groups=[group]))
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "NetworkConfig": {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
                "VpcConfig": {"Subnets": SUBNETS, "SecurityGroupIds": GROUPS},
            }
        },
    )
    statements = [
        s
        for p in t.find_resources("AWS::IAM::Policy").values()
        if "MonitorRole" in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = json.dumps([s["Action"] for s in statements])
    for action in ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeVpcs"):
        assert action in actions
    (create,) = [s for s in statements if s["Action"] == "ec2:CreateNetworkInterface"]
    assert all(f"subnet/{subnet}" in json.dumps(create["Resource"]) for subnet in SUBNETS)


def test_no_network_interface_permissions_outside_a_vpc(stack):
    monitor(stack)
    t = Template.from_stack(stack)
    assert "ec2:" not in json.dumps(t.find_resources("AWS::IAM::Policy"))
    (job,) = t.find_resources("AWS::SageMaker::DataQualityJobDefinition").values()
    assert "VpcConfig" not in job["Properties"]["NetworkConfig"]


def test_vpc_must_be_a_vpc_config(stack):
    with pytest.raises(
        ConfigurationError, match=r"DataQualityMonitor vpc: got a dict .*; allowed a VpcConfig"
    ):
        monitor(stack, vpc={"subnets": SUBNETS})


def test_image_can_be_pinned_by_digest(stack):
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/analyzer@sha256:" + "a" * 64
    monitor(stack, image_uri=image)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {"DataQualityAppSpecification": Match.object_like({"ImageUri": image})},
    )
