"""ModelQualityMonitor: job definition, schedule, baseline, offsets, alarms, validation."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.metrics import MetricThreshold
from constructs_lib.model_quality_monitor import METRIC_NAMESPACE, ModelQualityMonitor
from constructs_lib.vpc_config import VpcConfig
from tests.constructs.serving import PACKAGE_ARN, build_bucket, endpoint, serverless_endpoint

BASELINE_URI = "s3://mlops-artifacts-111111111111-eu-west-1/pipelines/churn/mq/constraints.json"


def monitor(stack, *, ep=None, **kwargs):
    ep = ep if ep is not None else endpoint(stack)
    store = ArtifactStore(stack, "MonitorStore")
    kwargs.setdefault("problem_type", "binary_classification")
    if kwargs["problem_type"] == "binary_classification":
        kwargs.setdefault("probability_attribute", "0")
        kwargs.setdefault("probability_threshold", 0.5)
    else:
        kwargs.setdefault("inference_attribute", "0")
    if "baseline_constraints_uri" not in kwargs:
        kwargs.setdefault("model_package_arn", PACKAGE_ARN)
    kwargs.setdefault("start_time_offset", "-P2D")
    kwargs.setdefault("end_time_offset", "-P1D")
    return ModelQualityMonitor(
        stack,
        "Quality",
        endpoint=ep,
        ground_truth_bucket=store.bucket,
        ground_truth_prefix="ground-truth/churn/",
        output_bucket=store.bucket,
        output_prefix="monitoring/churn-test/model-quality/",
        baseline_bucket=build_bucket(stack),
        baseline_prefix="pipelines/churn/",
        kms_key=store.key,
        **kwargs,
    )


def test_job_definition_merges_labels_and_runs_isolated(stack):
    m = monitor(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::ModelQualityJobDefinition",
        {
            "JobDefinitionName": m.job_definition_name,
            "ModelQualityAppSpecification": {
                "ImageUri": Match.string_like_regexp("sagemaker-model-monitor-analyzer"),
                "ProblemType": "BinaryClassification",
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            "ModelQualityJobInput": {
                "EndpointInput": Match.object_like(
                    {
                        "EndpointName": "churn-test",
                        "ProbabilityAttribute": "0",
                        "ProbabilityThresholdAttribute": 0.5,
                        "StartTimeOffset": "-P2D",
                        "EndTimeOffset": "-P1D",
                    }
                ),
                "GroundTruthS3Input": {"S3Uri": Match.any_value()},
            },
            "NetworkConfig": {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
            },
            "JobResources": {
                "ClusterConfig": Match.object_like({"VolumeKmsKeyId": Match.any_value()})
            },
            "ModelQualityJobOutputConfig": Match.object_like({"KmsKeyId": Match.any_value()}),
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        },
    )
    t.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleName": "churn-test-model-quality",
            "MonitoringScheduleConfig": {
                "MonitoringJobDefinitionName": m.job_definition_name,
                "MonitoringType": "ModelQuality",
                "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
            },
        },
    )
    assert stack.node.find_child("Quality").node.default_child is m.resource


def test_baseline_comes_from_the_package_at_deploy_time(stack):
    monitor(stack)
    t = Template.from_stack(stack)
    (lookup,) = t.find_resources("Custom::AWS").values()
    assert "describeModelPackage" in json.dumps(lookup["Properties"])
    (job,) = t.find_resources("AWS::SageMaker::ModelQualityJobDefinition").values()
    uri = job["Properties"]["ModelQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"]
    assert uri["Fn::GetAtt"][1] == "ModelMetrics.ModelQuality.Constraints.S3Uri"


def test_an_explicit_baseline_needs_no_lookup(stack):
    monitor(stack, baseline_constraints_uri=BASELINE_URI)
    t = Template.from_stack(stack)
    assert t.find_resources("Custom::AWS") == {}
    t.has_resource_properties(
        "AWS::SageMaker::ModelQualityJobDefinition",
        {"ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": BASELINE_URI}}},
    )


def test_role_reads_labels_and_publishes_only_model_metrics(stack):
    monitor(stack)
    policies = json.dumps(Template.from_stack(stack).find_resources("AWS::IAM::Policy"))
    assert "/ground-truth/churn/*" in policies
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "cloudwatch:PutMetricData",
                                "Condition": {
                                    "StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_regression_takes_the_inference_attribute(stack):
    monitor(stack, problem_type="regression")
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::ModelQualityJobDefinition",
        {
            "ModelQualityAppSpecification": Match.object_like({"ProblemType": "Regression"}),
            "ModelQualityJobInput": Match.object_like(
                {"EndpointInput": Match.object_like({"InferenceAttribute": "0"})}
            ),
        },
    )


def test_vpc_goes_into_the_network_config(stack):
    vpc = VpcConfig(subnets=["subnet-0123456789abcdef0"], security_groups=["sg-0123456789abcdef0"])
    monitor(stack, vpc=vpc)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::ModelQualityJobDefinition",
        {
            "NetworkConfig": Match.object_like(
                {
                    "VpcConfig": {
                        "Subnets": ["subnet-0123456789abcdef0"],
                        "SecurityGroupIds": ["sg-0123456789abcdef0"],
                    }
                }
            )
        },
    )


def test_alarms_follow_the_metric_direction(stack):
    m = monitor(stack, schedule_expression="cron(0 6 ? * * *)")
    m.alarms([MetricThreshold(metric="auc", minimum=0.75)])
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": METRIC_NAMESPACE,
            "MetricName": "auc",
            "Statistic": "Minimum",
            "Period": 86400,
            "Threshold": 0.75,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "notBreaching",
            "Dimensions": Match.array_with(
                [{"Name": "MonitoringSchedule", "Value": "churn-test-model-quality"}]
            ),
        },
    )


def test_rmse_alarms_above(stack):
    m = monitor(stack, problem_type="regression")
    m.alarm(MetricThreshold(metric="rmse", maximum=3.5))
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "rmse", "ComparisonOperator": "GreaterThanThreshold", "Threshold": 3.5},
    )


def test_metric_spreads_options(stack):
    m = monitor(stack)
    metric = m.metric("accuracy", color="#ff0000", statistic="p90")
    assert metric.color == "#ff0000" and metric.statistic == "p90"
    assert metric.namespace == METRIC_NAMESPACE


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"problem_type": "classification"}, "problem_type: got 'classification'"),
        ({"start_time_offset": "P1D"}, "start_time_offset: got 'P1D'; allowed an ISO 8601"),
        ({"end_time_offset": "-1 day"}, "end_time_offset: got '-1 day'"),
        (
            {"start_time_offset": "-PT1H", "end_time_offset": "-PT2H"},
            "start_time_offset: got '-PT1H'; allowed an offset further back",
        ),
        (
            {"max_runtime": Duration.hours(1)},
            "max_runtime: got 3600 s; allowed a Duration from 1 s to 1800 s",
        ),
        ({"schedule_expression": "rate(1 hour)"}, "schedule_expression: got 'rate\\(1 hour\\)'"),
        ({"probability_threshold": 1.5}, "probability_threshold: got 1.5"),
        (
            {"probability_attribute": None, "probability_threshold": None},
            "inference_attribute/probability_attribute: got None; allowed at least one",
        ),
        (
            {"probability_attribute": None, "inference_attribute": "0"},
            "probability_threshold: got 0.5; allowed None without probability_attribute",
        ),
        (
            {"problem_type": "regression", "inference_attribute": None},
            "inference_attribute: got None; allowed where the prediction is",
        ),
        (
            {"problem_type": "multiclass_classification", "probability_attribute": "1"},
            "probability_attribute: got '1'; allowed None with multiclass_classification",
        ),
        (
            {"baseline_constraints_uri": BASELINE_URI, "model_package_arn": PACKAGE_ARN},
            "model_package_arn/baseline_constraints_uri: got both",
        ),
        ({"model_package_arn": "churn/7"}, "model_package_arn: got 'churn/7'"),
        ({"vpc": "subnet-1"}, "vpc: got a str 'subnet-1'; allowed a VpcConfig or None"),
        ({"volume_size_in_gb": 0}, "volume_size_in_gb: got 0"),
        ({"instance_type": "m5.large"}, "instance_type: got 'm5.large'"),
        ({"inference_attribute": 0}, "inference_attribute: got an int 0"),
    ],
)
def test_invalid_props_name_what_is_allowed(stack, kwargs, match):
    with pytest.raises(ConfigurationError, match=f"^ModelQualityMonitor .*{match}"):
        monitor(stack, **kwargs)


def test_baseline_uri_outside_the_prefix_is_refused(stack):
    with pytest.raises(
        ConfigurationError, match="baseline_constraints_uri: got 's3://other/x.json'"
    ):
        monitor(stack, baseline_constraints_uri="s3://other/x.json", model_package_arn=None)


def test_prefixes_are_folders(stack):
    store = ArtifactStore(stack, "S")
    with pytest.raises(ConfigurationError, match="ground_truth_prefix: got 'labels'"):
        ModelQualityMonitor(
            stack,
            "Q",
            endpoint=endpoint(stack),
            problem_type="regression",
            inference_attribute="0",
            ground_truth_bucket=store.bucket,
            ground_truth_prefix="labels",
            output_bucket=store.bucket,
            output_prefix="m/",
            baseline_bucket=store.bucket,
            baseline_prefix="b/",
            model_package_arn=PACKAGE_ARN,
            start_time_offset="-P2D",
            end_time_offset="-P1D",
        )


def test_serverless_or_uncaptured_endpoints_are_refused(stack):
    with pytest.raises(
        ConfigurationError, match="endpoint: got 'churn-test' with a ServerlessVariant"
    ):
        monitor(stack, ep=serverless_endpoint(stack))


def test_alarm_on_a_metric_of_another_problem_type_is_refused(stack):
    m = monitor(stack)
    with pytest.raises(
        ConfigurationError,
        match="threshold.metric: got 'rmse'; allowed a binary_classification metric",
    ):
        m.alarm(MetricThreshold(metric="rmse", maximum=1))
