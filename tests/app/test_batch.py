"""Batch side: a model scored in batch on a schedule, with monitoring
(`mlops-<model>-batch-<env>`), only where its settings say so."""

from __future__ import annotations

import fnmatch
import json
import shlex
from typing import Any

import pytest

from config.settings import load_settings
from constructs_lib.errors import ConfigurationError
from stacks.batch import ModelBatchStack
from tests.app.conftest import (
    PROD,
    REGRESSOR,
    REGRESSOR_BATCH_PROD,
    STAGING,
    copy_config,
    edit,
    render,
)
from tests.config.test_batch_settings import REGRESSOR_FILE, make_batch_only
from tests.conftest import REPO_ROOT, cdk_context
from tests.support.definition_checks import check_api_shapes, check_no_tokens

BATCH = REGRESSOR_BATCH_PROD
OUTPUT = f"batch/{REGRESSOR}/output/"


def resources(synthesized, resource_type: str) -> dict[str, dict[str, Any]]:
    return synthesized.resources(BATCH, resource_type)


def props(synthesized, resource_type: str) -> dict[str, Any]:
    return synthesized.only(BATCH, resource_type)["Properties"]


def test_the_batch_stack_exists_only_where_settings_say(synthesized):
    """The regressor's prod settings have `batch:`; no other model or environment does.
    The stack reads only its environment's shared stack."""
    batch_stacks = sorted(s for s in synthesized.stacks if "-batch-" in s)
    assert batch_stacks == [BATCH]
    settings = load_settings()
    assert [(m.name, v) for m, _, v in settings.batched("prod")] == [(REGRESSOR, 1)]
    assert settings.batched("staging") == []
    assert synthesized.dependencies(BATCH) == [PROD]
    assert synthesized.account(BATCH) == synthesized.account(PROD)
    assert STAGING not in json.dumps(synthesized.templates[BATCH])


def test_the_schedule_starts_the_pipeline_with_retries_and_a_dead_letter_queue(synthesized):
    schedule = props(synthesized, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Dublin"
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    pipeline = props(synthesized, "AWS::SageMaker::Pipeline")
    assert pipeline["PipelineName"] == f"{REGRESSOR}-prod-batch"
    assert target["Arn"].endswith(f":pipeline/{REGRESSOR}-prod-batch")
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 10}
    (queue_id,) = resources(synthesized, "AWS::SQS::Queue").keys() & {
        target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    }
    queue = synthesized.templates[BATCH]["Resources"][queue_id]["Properties"]
    assert "KmsMasterKeyId" in queue
    assert "SageMakerPipelineParameters" in target


def definition(synthesized) -> tuple[dict[str, Any], str]:
    """The scoring pipeline's definition as deployed (stand-ins for references) and the
    logical id of the model its Transform step names."""
    body = props(synthesized, "AWS::SageMaker::Pipeline")["PipelineDefinition"]
    parts = body["PipelineDefinitionBody"]["Fn::Join"][1]
    models = [p["Fn::GetAtt"][0] for p in parts if isinstance(p, dict) and "Fn::GetAtt" in p]
    stand_in = ["stand-in-model" if isinstance(p, dict) and "Fn::GetAtt" in p else p for p in parts]
    text = render({"Fn::Join": ["", stand_in]}, synthesized.templates[BATCH], synthesized.templates)
    assert check_no_tokens(text) == []
    return json.loads(text), models[0] if len(set(models)) == 1 else ""


def test_the_transform_scores_the_pinned_package_encrypted_and_valid(synthesized):
    found, model_id = definition(synthesized)
    assert check_api_shapes(found) == []
    (step,) = found["Steps"]
    assert step["Type"] == "Transform"
    args = step["Arguments"]
    model = synthesized.templates[BATCH]["Resources"][model_id]
    assert model["Type"] == "AWS::SageMaker::Model"
    pin = load_settings().promotion.version(REGRESSOR, "prod")
    package = f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/{REGRESSOR}/{pin}"
    assert model["Properties"]["PrimaryContainer"] == {"ModelPackageName": package}
    assert model["Properties"]["EnableNetworkIsolation"] is True
    assert synthesized.templates[BATCH]["Outputs"]["ScoredModel"]["Value"] == package
    store = render(
        {"Fn::GetAtt": ["K", "Arn"]},
        {"Resources": {"K": {"Type": "AWS::KMS::Key"}}},
    ).rsplit("/", 1)[0]
    assert args["TransformOutput"]["KmsKeyId"].startswith(store)
    assert args["TransformResources"]["VolumeKmsKeyId"] == args["TransformOutput"]["KmsKeyId"]
    assert args["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].endswith(
        f"/batch/{REGRESSOR}/input/"
    )
    assert args["TransformInput"]["ContentType"] == "text/csv"
    capture = args["DataCaptureConfig"]
    assert capture["DestinationS3Uri"].endswith(f"/{OUTPUT}data-capture")
    assert capture["KmsKeyId"] == args["TransformOutput"]["KmsKeyId"]


def test_the_monitor_reads_batch_transform_input_isolated_and_encrypted(synthesized):
    job = props(synthesized, "AWS::SageMaker::DataQualityJobDefinition")
    batch_input = job["DataQualityJobInput"]["BatchTransformInput"]
    assert batch_input["DatasetFormat"] == {"Csv": {"Header": False}}
    assert json.dumps(batch_input["DataCapturedDestinationS3Uri"]).endswith(
        f'/{OUTPUT}data-capture"]]}}'
    )
    assert job["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    assert "VolumeKmsKeyId" in job["JobResources"]["ClusterConfig"]
    assert "KmsKeyId" in job["DataQualityJobOutputConfig"]
    schedule = props(synthesized, "AWS::SageMaker::MonitoringSchedule")
    config = schedule["MonitoringScheduleConfig"]
    assert config["MonitoringType"] == "DataQuality"
    assert config["ScheduleConfig"] == {"ScheduleExpression": "cron(0 6 ? * * *)"}


def test_drift_alarms_and_failures_notify_the_stacks_topic(synthesized):
    (topic_id,) = resources(synthesized, "AWS::SNS::Topic")
    alarms = resources(synthesized, "AWS::CloudWatch::Alarm").values()
    drift = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms}
    assert sorted(drift) == [f"feature_baseline_drift_{f}" for f in ("bmi", "bp", "s5")]
    for alarm in drift.values():
        assert alarm["Namespace"] == "aws/sagemaker/ModelMonitoring/data-metrics"
        assert alarm["Dimensions"] == [
            {"Name": "MonitoringSchedule", "Value": f"{REGRESSOR}-prod-batch-data-quality"}
        ]
        assert alarm["Threshold"] == 0.2
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    rule = props(synthesized, "AWS::Events::Rule")
    assert rule["EventPattern"]["detail"]["currentPipelineExecutionStatus"] == ["Failed"]
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": topic_id}]
    # The topic uses the environment's messaging key, not the store's key.
    topic = props(synthesized, "AWS::SNS::Topic")
    output = topic["KmsMasterKeyId"]["Fn::GetStackOutput"]
    assert output["StackName"] == "mlops-prod"
    assert "MessagingKey" in output["OutputName"]


# -- batch-only models and settings errors at synth -----------------------------------------------------------------------------


def test_a_batch_only_model_gets_a_batch_stack_and_no_endpoint_stack(tmp_path):
    """With `batch` and no `endpoint` in prod: no deploy stack there, no smoke test."""
    from aws_cdk import App

    from app import build_app
    from tests.conftest import cdk_context

    config = copy_config(tmp_path / "config")
    make_batch_only(config / REGRESSOR_FILE)
    settings = load_settings(config, environments=["prod"], models=[REGRESSOR])
    assert settings.served("prod") == []
    assert [m.name for m, _, _ in settings.batched("prod")] == [REGRESSOR]
    stacks = build_app(App(context=cdk_context()), settings)
    assert sorted(stacks) == ["mlops-build", BATCH, f"mlops-{REGRESSOR}-build", PROD]


def test_a_bad_schedule_names_file_and_key(tmp_path):
    """Values the construct checks fail at synth, naming the file and the YAML key."""
    from aws_cdk import App

    from app import build_app
    from tests.conftest import cdk_context

    config = copy_config(tmp_path / "config")
    edit(config / REGRESSOR_FILE, "cron(0 2 * * ? *)", "cron(0 2 * *)")
    settings = load_settings(config, environments=["prod"], models=[REGRESSOR])
    with pytest.raises(
        ConfigurationError,
        match=r"diabetes-regressor.yaml: environments.prod.batch: BatchInference"
        r" schedule_expression: got 'cron\(0 2 \* \*\)'",
    ):
        build_app(App(context=cdk_context()), settings)


def test_the_workflows_deploy_and_diff_the_batch_stack_with_its_environment(synthesized):
    """`mlops-<model>-batch-<env>` ends with the environment, so the `mlops-*-<env>`
    patterns the deploy and pull-request workflows pass to tools/diff_stacks.sh (`cdk ls`
    globs) take it with the environment's other stacks, after `mlops-<env>`."""
    workflows = REPO_ROOT / ".github" / "workflows"
    patterns: dict[str, list[str]] = {}
    for name in ("deploy.yml", "pull-request.yml"):
        for line in (workflows / name).read_text().splitlines():
            for marker in ("diff_stacks.sh ", "stacks: "):
                if marker in line and f"{marker}{PROD} " in line:
                    patterns[name] = shlex.split(line.split(marker, 1)[1])
    assert sorted(patterns) == ["deploy.yml", "pull-request.yml"]
    for found in patterns.values():
        assert any(fnmatch.fnmatchcase(BATCH, p) for p in found), found
    assert not any(fnmatch.fnmatchcase(BATCH, p) for p in ("mlops-*-build", "mlops-*-staging"))


def test_the_environments_vpc_reaches_the_transform_and_the_monitor(tmp_path):
    """With `vpc:` in prod.yaml, the model the Transform step runs and the monitoring jobs
    get its subnets and security groups (no synth: the constructs' properties)."""
    from aws_cdk import App

    from app import build_app
    from tests.config.test_vpc_app import vpc_yaml

    subnets, groups = ["subnet-0123456789abcdef0"], ["sg-0123456789abcdef0"]
    config = copy_config(tmp_path / "config")
    (config / "prod.yaml").write_text(
        (config / "prod.yaml").read_text() + vpc_yaml(subnets, groups)
    )
    settings = load_settings(config, environments=["prod"], models=[REGRESSOR])
    stack = build_app(App(context=cdk_context()), settings)[BATCH]
    assert isinstance(stack, ModelBatchStack)
    model = stack.resolve(stack.model.resource.vpc_config)
    assert model == {"subnets": subnets, "securityGroupIds": groups}
    assert stack.batch.job_definition is not None
    network = stack.resolve(stack.batch.job_definition.network_config)
    assert network["vpcConfig"] == {"subnets": subnets, "securityGroupIds": groups}
    assert network["enableNetworkIsolation"] is True


def test_one_dashboard_shows_runs_failures_duration_and_drift(synthesized):
    (dashboard,) = resources(synthesized, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "diabetes-regressor-prod-batch"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for text in (
        "AWS/Sagemaker/ModelBuildingPipeline",
        "ExecutionStarted",
        "ExecutionSucceeded",
        "ExecutionFailed",
        "ExecutionDuration",
        "Data quality: violations",
        "feature_baseline_drift_bmi",
    ):
        assert text in body, text
