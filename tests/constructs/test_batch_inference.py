"""BatchInference: the Transform pipeline, its schedule, monitoring, one test per error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Duration, Environment, Stack, Validations
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.batch_inference import BatchInference, BatchMonitoring
from constructs_lib.errors import ConfigurationError
from constructs_lib.registered_model import RegisteredModel
from constructs_lib.vpc_config import VpcConfig
from tests.app.test_templates import lint_errors
from tests.conftest import ACCOUNT, REGION, cdk_context
from tests.constructs.test_sagemaker_pipeline import rendered_definition
from tests.support.definition_checks import (
    check_api_shapes,
    check_no_tokens,
    check_schema,
    require_schema,
)

PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/7"


def batch(stack: Stack, *, monitored: bool = True, **kwargs: Any) -> BatchInference:
    store = ArtifactStore(stack, "Store")
    build = ArtifactStore(stack, "Build")
    kwargs.setdefault(
        "model",
        RegisteredModel(
            stack,
            "Model",
            model_package_arn=PACKAGE,
            artifact_bucket=build.bucket,
            artifact_prefix="pipelines/churn/",
        ),
    )
    kwargs.setdefault("pipeline_name", "churn-batch")
    kwargs.setdefault("data_bucket", store.bucket)
    kwargs.setdefault("input_prefix", "batch/input/")
    kwargs.setdefault("output_prefix", "batch/output/")
    kwargs.setdefault("kms_key", store.key)
    kwargs.setdefault("schedule_expression", "cron(0 2 * * ? *)")
    if monitored:
        kwargs.setdefault(
            "monitoring",
            BatchMonitoring(baseline_bucket=build.bucket, baseline_prefix="pipelines/churn/"),
        )
    return BatchInference(stack, "Batch", **kwargs)


def definition(stack: Stack) -> dict[str, Any]:
    return rendered_definition(Template.from_stack(stack).to_json())


def test_the_definition_is_one_transform_step_valid_against_the_api(stack):
    batch(stack)
    found = definition(stack)
    (step,) = found["Steps"]
    assert step["Type"] == "Transform"
    assert check_api_shapes(found) == []
    # The public schema lags the API here: its Transform step has no DataCaptureConfig,
    # which CreateTransformJob accepts (botocore's shape, checked above). SCHEMA_DEFECTS
    # (tests/support/definition_checks.py) is proven against a reference definition that
    # has no Transform step, so this one difference is asserted here instead.
    assert check_schema(found, require_schema()) == [
        "Score: Steps[0].Arguments: Additional properties are not allowed"
        " ('DataCaptureConfig' was unexpected)"
    ]
    text = json.dumps(Template.from_stack(stack).to_json())
    assert check_no_tokens(text) == []


def test_transform_is_encrypted_captured_and_per_execution(stack):
    batch(stack)
    args = definition(stack)["Steps"][0]["Arguments"]
    assert args["TransformResources"]["VolumeKmsKeyId"] == "X"
    assert args["TransformOutput"]["KmsKeyId"] == "X"
    assert args["TransformOutput"]["S3OutputPath"]["Std:Join"]["Values"][1] == {
        "Get": "Execution.PipelineExecutionId"
    }
    assert args["TransformOutput"]["S3OutputPath"]["Std:Join"]["Values"][0].endswith(
        "/batch/output/predictions"
    )
    assert args["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/batch/input/")
    assert args["DataCaptureConfig"]["GenerateInferenceId"] is True
    assert args["DataCaptureConfig"]["DestinationS3Uri"].endswith("/batch/output/data-capture")
    assert (args["TransformInput"]["ContentType"], args["TransformInput"]["SplitType"]) == (
        "text/csv",
        "Line",
    )
    assert (args["BatchStrategy"], args["MaxPayloadInMB"]) == ("MultiRecord", 6)


def test_without_monitoring_nothing_is_captured(stack):
    scoring = batch(stack, monitored=False)
    assert (scoring.job_definition, scoring.monitoring_schedule) == (None, None)
    assert "DataCaptureConfig" not in definition(stack)["Steps"][0]["Arguments"]
    Template.from_stack(stack).resource_count_is("AWS::SageMaker::MonitoringSchedule", 0)


def test_the_model_is_network_isolated(stack):
    batch(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Model", {"EnableNetworkIsolation": True}
    )


def test_schedule_starts_the_pipeline_with_retries_and_a_dead_letter_queue(stack):
    batch(stack, timezone="Europe/Paris")
    Template.from_stack(stack).has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "cron(0 2 * * ? *)",
            "ScheduleExpressionTimezone": "Europe/Paris",
            "State": "ENABLED",
            "Target": Match.object_like(
                {
                    "Arn": Match.any_value(),
                    "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 21600},
                    "DeadLetterConfig": {"Arn": Match.any_value()},
                    "SageMakerPipelineParameters": {},
                }
            ),
        },
    )


def test_schedule_and_monitoring_roles_name_their_source(stack):
    """Confused deputy: Scheduler's documented account and schedule-group conditions,
    SageMaker's account-and-region source ARN pattern."""
    batch(stack)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": {"Service": "scheduler.amazonaws.com"},
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                                "ArnEquals": {
                                    "aws:SourceArn": Match.string_like_regexp(
                                        ":schedule-group/default$"
                                    )
                                },
                            },
                        }
                    )
                ]
            }
        },
    )
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("monitoring")}}
    )
    (role,) = roles.values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert list(statement["Condition"]) == ["ArnLike"]


def test_disabled_schedule(stack):
    batch(stack, enabled=False)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Scheduler::Schedule", {"State": "DISABLED"}
    )


def test_model_role_reads_input_and_writes_output(stack):
    batch(stack)
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("ModelRole")]
    text = json.dumps(policy)
    assert "batch/input/*" in text and "batch/output/*" in text
    assert "/aws/sagemaker/TransformJobs*" in text
    assert '"kms:GrantIsForAWSResource": "true"' in text


def test_monitoring_reads_the_capture_as_batch_transform_input(stack):
    batch(stack)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "DataQualityJobInput": {
                "BatchTransformInput": Match.object_like(
                    {
                        "DataCapturedDestinationS3Uri": Match.any_value(),
                        "DatasetFormat": {"Csv": {"Header": False}},
                    }
                )
            },
            "NetworkConfig": {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
            },
            "JobResources": {
                "ClusterConfig": Match.object_like({"VolumeKmsKeyId": Match.any_value()})
            },
            "DataQualityJobOutputConfig": Match.object_like({"KmsKeyId": Match.any_value()}),
        },
    )
    template.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleName": "churn-batch-data-quality",
            "MonitoringScheduleConfig": Match.object_like(
                {
                    "MonitoringType": "DataQuality",
                    "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                }
            ),
        },
    )


def test_monitoring_runs_in_its_vpc(stack):
    build = ArtifactStore(stack, "Baselines")
    vpc = VpcConfig(subnets=["subnet-0123456789abcdef0"], security_groups=["sg-01234567"])
    monitoring = BatchMonitoring(
        baseline_bucket=build.bucket, baseline_prefix="pipelines/churn/", vpc=vpc
    )
    batch(stack, monitoring=monitoring)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "NetworkConfig": {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
                "VpcConfig": {
                    "Subnets": ["subnet-0123456789abcdef0"],
                    "SecurityGroupIds": ["sg-01234567"],
                },
            }
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("BatchMonitoringRole")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "ec2:CreateNetworkInterface"})]
                )
            },
        },
    )


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/jsonlines", {"Json": {"Line": True}}),
        ("application/json", {"Json": {"Line": False}}),
        ("application/x-parquet", {"Parquet": True}),
    ],
)
def test_dataset_format_follows_the_content_type(stack, content_type, expected):
    batch(stack, content_type=content_type, split_type="None")
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "DataQualityJobInput": {
                "BatchTransformInput": Match.object_like({"DatasetFormat": expected})
            }
        },
    )


def test_failures_are_notified(stack):
    store = ArtifactStore(stack, "TopicStore")
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    batch(stack, topic=topic, topic_key=store.key)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {
                    "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
                    "detail": Match.object_like({"currentPipelineExecutionStatus": ["Failed"]}),
                }
            )
        },
    )


def test_drift_metric_and_alarms(stack):
    made = batch(stack)
    metric = made.metric_feature_drift("age", color="#ff0000")
    assert metric.namespace == "aws/sagemaker/ModelMonitoring/data-metrics"
    assert metric.color == "#ff0000"
    (_alarm,) = made.drift_alarms(["age"], 0.3)
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "feature_baseline_drift_age",
            "Dimensions": [{"Name": "MonitoringSchedule", "Value": "churn-batch-data-quality"}],
            "Threshold": 0.3,
        },
    )


def test_run_metrics_count_the_scoring_pipelines_executions(stack):
    made = batch(stack, monitored=False)
    failed = made.metric_runs()
    assert (failed.namespace, failed.metric_name) == (
        "AWS/Sagemaker/ModelBuildingPipeline",
        "ExecutionFailed",
    )
    assert failed.statistic == "Sum" and failed.period.to_days() == 1
    assert stack.resolve(failed.dimensions) == {
        "PipelineName": stack.resolve(made.pipeline.pipeline_name)
    }
    duration = made.metric_runs("ExecutionDuration", period=Duration.hours(6))
    assert duration.statistic == "Average" and duration.period.to_hours() == 6
    with pytest.raises(
        ConfigurationError, match="BatchInference.metric_runs metric_name: got 'Runs'"
    ):
        made.metric_runs("Runs")


def test_metrics_need_monitoring(stack):
    with pytest.raises(ConfigurationError, match="BatchInference.metric monitoring: got None"):
        batch(stack, monitored=False).metric_feature_drift("age")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "m"}, "model: got a str 'm'; allowed a BatchModel"),
        ({"pipeline_name": "bad_name"}, "pipeline_name: got 'bad_name'"),
        ({"data_bucket": "b"}, "data_bucket: got a str 'b'; allowed an s3.IBucket"),
        ({"input_prefix": "batch/input"}, "input_prefix: got 'batch/input'"),
        ({"output_prefix": "/out/"}, "output_prefix: got '/out/'"),
        (
            {"output_prefix": "batch/input/out/"},
            "output_prefix: got 'batch/input/out/'; allowed a prefix neither inside",
        ),
        ({"kms_key": "k"}, "kms_key: got a str 'k'; allowed a kms.IKey"),
        (
            {"schedule_expression": "cron(0 2 * * ?)"},
            r"schedule_expression: got 'cron\(0 2 \* \* \?\)'",
        ),
        ({"schedule_expression": "rate(1 hours)"}, r"schedule_expression: got 'rate\(1 hours\)'"),
        ({"timezone": "Mars/Olympus"}, "timezone: got 'Mars/Olympus'; allowed an IANA time zone"),
        ({"enabled": "yes"}, "enabled: got a str 'yes'; allowed True or False"),
        ({"content_type": "csv"}, "content_type: got 'csv'"),
        ({"content_type": "image/png"}, "content_type: got 'image/png'; allowed one of text/csv"),
        ({"split_type": "Lines"}, "split_type: got 'Lines'; allowed 'None' or 'Line'"),
        ({"batch_strategy": "Multi"}, "batch_strategy: got 'Multi'"),
        ({"accept": 5}, "accept: got an int 5"),
        ({"assemble_with": None}, "assemble_with: got None"),
        ({"instance_type": "m5.large"}, "instance_type: got 'm5.large'"),
        ({"instance_count": 0}, "instance_count: got 0; allowed a whole number from 1 up"),
        ({"instance_count": "2"}, "instance_count: got a str '2'"),
        (
            {"max_payload_in_mb": 101},
            "max_payload_in_mb: got 101; allowed a whole number from 0 to 100",
        ),
        ({"max_concurrent_transforms": -1}, "max_concurrent_transforms: got -1"),
        ({"monitoring": {"baseline_prefix": "x/"}}, "monitoring: got a dict"),
        ({"topic": "t"}, "topic_key: got None; allowed the topic's key"),
    ],
)
def test_invalid_props(stack, kwargs, match):
    with pytest.raises(ConfigurationError, match=f"^BatchInference .*{match}"):
        batch(stack, **kwargs)


def test_a_model_without_network_isolation_is_refused(stack):
    build = ArtifactStore(stack, "B2")
    model = RegisteredModel(
        stack,
        "Open",
        model_package_arn=PACKAGE,
        artifact_bucket=build.bucket,
        artifact_prefix="pipelines/churn/",
        network_isolation=False,
    )
    with pytest.raises(ConfigurationError, match="model: got a model with network_isolation False"):
        batch(stack, model=model)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"baseline_bucket": "b"}, "baseline_bucket: got a str 'b'"),
        ({"baseline_prefix": "pipelines/churn"}, "baseline_prefix: got 'pipelines/churn'"),
        ({"schedule_expression": "cron(0 2 * * ? *)"}, "schedule_expression: got"),
        ({"csv_header": "no"}, "csv_header: got a str 'no'"),
        ({"instance_type": "large"}, "instance_type: got 'large'"),
        ({"volume_size_in_gb": 0}, "volume_size_in_gb: got 0"),
        (
            {"max_runtime": Duration.hours(2)},
            "max_runtime: got 7200 s; allowed a Duration from 1 s to 3600 s",
        ),
        ({"vpc": "subnet-0123456789abcdef0"}, "vpc: got a str 'subnet-0123456789abcdef0'"),
    ],
)
def test_invalid_monitoring(stack, kwargs, match):
    build = ArtifactStore(stack, "Build")
    values = {"baseline_bucket": build.bucket, "baseline_prefix": "pipelines/churn/", **kwargs}
    with pytest.raises(ConfigurationError, match=f"^BatchMonitoring {match}"):
        BatchMonitoring(**values)


def test_four_nag_packs_and_cfn_lint_are_clean(tmp_path):
    app = App(
        outdir=str(tmp_path), context={**cdk_context(), "@aws-cdk/core:validateTemplates": False}
    )
    env = Environment(account=ACCOUNT, region=REGION)
    build = ArtifactStore(Stack(app, "BuildStack", env=env), "Store")
    stack = Stack(app, "Batch", env=env)
    store = ArtifactStore(stack, "Store")
    topic = sns.Topic(stack, "Topic", master_key=store.key, enforce_ssl=True)
    model = RegisteredModel(
        stack,
        "Model",
        model_package_arn=PACKAGE,
        artifact_bucket=build.bucket,
        artifact_prefix="pipelines/churn/",
    )
    made = BatchInference(
        stack,
        "Nightly",
        model=model,
        pipeline_name="churn-batch",
        data_bucket=store.bucket,
        input_prefix="batch/input/",
        output_prefix="batch/output/",
        kms_key=store.key,
        schedule_expression="cron(0 2 * * ? *)",
        timezone="Europe/Paris",
        topic=topic,
        topic_key=store.key,
        monitoring=BatchMonitoring(
            baseline_bucket=build.bucket, baseline_prefix="pipelines/churn/"
        ),
    )
    made.drift_alarms(["age"], 0.2)
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app),
        NIST80053R5Checks(app),
        HIPAASecurityChecks(app),
        ServerlessChecks(app),
    )
    try:
        app.synth()
    except Exception:
        report = json.loads((tmp_path / "validation-report.json").read_text())
        found = sorted(
            {
                f"{v['ruleName']} {c['constructPath']}"
                for p in report["pluginReports"]
                for v in p["violations"]
                for c in v["violatingConstructs"]
            }
        )
        raise AssertionError("\n".join(found)) from None
    assert lint_errors(tmp_path / "Batch.template.json") == []
