"""The loop closed in the shipped app: prod watches model quality against ground truth,
its drift and quality alarms reach the build account's default event bus, and each
model's retraining trigger there matches exactly those alarms; staging has none of it.
One dashboard per model and environment shows invocations, errors, latency, the
violations of each monitor type and the model-quality metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.app.conftest import (
    BUILD,
    CLASSIFIER,
    CLASSIFIER_BUILD,
    CLASSIFIER_PROD,
    CLASSIFIER_STAGING,
    REGRESSOR,
    REGRESSOR_BUILD,
    REGRESSOR_PROD,
    REGRESSOR_STAGING,
    Synthesized,
)

BUILD_ACCOUNT, STAGING_ACCOUNT, PROD_ACCOUNT = "111111111111", "222222222222", "333333333333"
PROD_STACKS = [
    (CLASSIFIER_PROD, CLASSIFIER, "BinaryClassification", ["accuracy", "auc"]),
    (REGRESSOR_PROD, REGRESSOR, "Regression", ["rmse", "mae"]),
]
FEATURES = {
    CLASSIFIER: ["mean_radius", "mean_texture", "worst_area"],
    REGRESSOR: ["bmi", "bp", "s5"],
}


def named_alarms(synthesized: Synthesized, stack: str) -> dict[str, str]:
    """Alarm name -> logical id, for the alarms with a fixed name."""
    return {
        a["Properties"]["AlarmName"]: logical_id
        for logical_id, a in synthesized.resources(stack, "AWS::CloudWatch::Alarm").items()
        if "AlarmName" in a["Properties"]
    }


def retraining_names(model: str, thresholds: list[str]) -> list[str]:
    endpoint = f"{model}-prod"
    return [f"{endpoint}-drift-{f}" for f in FEATURES[model]] + [
        f"{endpoint}-model-quality-{m}" for m in thresholds
    ]


@pytest.mark.parametrize(("stack", "model", "problem", "thresholds"), PROD_STACKS)
def test_prod_monitors_model_quality_against_labels(
    synthesized: Synthesized, stack: str, model: str, problem: str, thresholds: list[str]
) -> None:
    job = synthesized.only(stack, "AWS::SageMaker::ModelQualityJobDefinition")["Properties"]
    assert job["ModelQualityAppSpecification"]["ProblemType"] == problem
    inputs = job["ModelQualityJobInput"]
    assert inputs["EndpointInput"]["EndpointName"] == f"{model}-prod"
    assert (
        inputs["EndpointInput"]["StartTimeOffset"],
        inputs["EndpointInput"]["EndTimeOffset"],
    ) == (
        "-P2D",
        "-P1D",
    )
    ground_truth = json.dumps(inputs["GroundTruthS3Input"]["S3Uri"])
    assert f"ground-truth/{model}-prod" in ground_truth
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert job["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
    assert "VolumeKmsKeyId" in job["JobResources"]["ClusterConfig"]
    assert "KmsKeyId" in job["ModelQualityJobOutputConfig"]
    # The baseline is the served package's, read at deploy time.
    constraints = job["ModelQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"]
    assert constraints["Fn::GetAtt"][1] == "ModelMetrics.ModelQuality.Constraints.S3Uri"
    schedules = [
        s["Properties"]["MonitoringScheduleConfig"]
        for s in synthesized.resources(stack, "AWS::SageMaker::MonitoringSchedule").values()
    ]
    quality = [s for s in schedules if s.get("MonitoringType") == "ModelQuality"]
    assert [s["ScheduleConfig"]["ScheduleExpression"] for s in quality] == ["cron(0 6 ? * * *)"]
    alarms = named_alarms(synthesized, stack)
    for metric in thresholds:
        alarm = synthesized.templates[stack]["Resources"][
            alarms[f"{model}-prod-model-quality-{metric}"]
        ]["Properties"]
        assert alarm["Namespace"] == "aws/sagemaker/Endpoints/model-metrics"
        assert alarm["MetricName"] == metric
        assert alarm["AlarmActions"] and alarm["OKActions"]


@pytest.mark.parametrize(("stack", "model", "problem", "thresholds"), PROD_STACKS)
def test_prod_forwards_its_retraining_alarms_to_the_build_bus(
    synthesized: Synthesized, stack: str, model: str, problem: str, thresholds: list[str]
) -> None:
    alarms = named_alarms(synthesized, stack)
    assert sorted(alarms) == sorted(retraining_names(model, thresholds))
    (rule,) = [
        r["Properties"]
        for r in synthesized.resources(stack, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.cloudwatch"]
    ]
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    assert sorted(r["Fn::GetAtt"][0] for r in pattern["resources"]) == sorted(alarms.values())
    (target,) = rule["Targets"]
    assert target["Arn"] == f"arn:aws:events:eu-west-1:{BUILD_ACCOUNT}:event-bus/default"
    assert "RoleArn" in target and "DeadLetterConfig" in target
    # Event-bus targets take no RetryPolicy: EventBridge retries 24 h, then dead-letters.
    assert "RetryPolicy" not in target
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    trust = synthesized.templates[stack]["Resources"][role_id]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"][0]
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": PROD_ACCOUNT}
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"] == (
        f"arn:aws:events:eu-west-1:{PROD_ACCOUNT}:rule/{rule['Name']}"
    )
    dead_letters = [
        a["Properties"]
        for a in synthesized.resources(stack, "AWS::CloudWatch::Alarm").values()
        if "did not reach the build account" in a["Properties"].get("AlarmDescription", "")
    ]
    assert len(dead_letters) == 1 and dead_letters[0]["AlarmActions"]


@pytest.mark.parametrize(
    ("stack", "model", "thresholds"),
    [
        (CLASSIFIER_BUILD, CLASSIFIER, ["accuracy", "auc"]),
        (REGRESSOR_BUILD, REGRESSOR, ["rmse", "mae"]),
    ],
)
def test_build_trigger_matches_prods_alarms_by_account_and_arn(
    synthesized: Synthesized, stack: str, model: str, thresholds: list[str]
) -> None:
    rules = synthesized.resources(stack, "AWS::Events::Rule")
    (rule,) = [
        r["Properties"]
        for r in rules.values()
        if r["Properties"]["EventPattern"].get("source") == ["aws.cloudwatch"]
    ]
    pattern = rule["EventPattern"]
    assert pattern["account"] == [PROD_ACCOUNT]
    assert sorted(pattern["resources"]) == sorted(
        f"arn:aws:cloudwatch:eu-west-1:{PROD_ACCOUNT}:alarm:{name}"
        for name in retraining_names(model, thresholds)
    )
    (target,) = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600}
    assert "DeadLetterConfig" in target
    functions = [
        f["Properties"]
        for f in synthesized.resources(stack, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "retraining.handler.lambda_handler"
    ]
    (function,) = functions
    assert function["ReservedConcurrentExecutions"] == 1
    variables = function["Environment"]["Variables"]
    assert variables["PIPELINE_NAME"] == model and variables["MIN_INTERVAL_SECONDS"] == "86400"


def test_build_bus_lets_deploy_accounts_put_only_alarm_state_changes(
    synthesized: Synthesized,
) -> None:
    policy = synthesized.only(BUILD, "AWS::Events::EventBusPolicy")["Properties"]
    assert policy["EventBusName"] == "default"
    statement = policy["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == f"arn:aws:events:eu-west-1:{BUILD_ACCOUNT}:event-bus/default"
    principals = json.dumps(statement["Principal"]["AWS"])
    for account in (STAGING_ACCOUNT, PROD_ACCOUNT):
        assert f"{account}:root" in principals
    assert BUILD_ACCOUNT not in principals
    assert statement["Condition"] == {
        "StringEquals": {"events:detail-type": "CloudWatch Alarm State Change"},
        "ForAllValues:StringEquals": {"events:source": ["aws.cloudwatch"]},
    }


def dashboard(synthesized: Synthesized, stack: str) -> str:
    body: Any = synthesized.only(stack, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    return json.dumps(body)


@pytest.mark.parametrize(("stack", "model", "problem", "thresholds"), PROD_STACKS)
def test_prod_dashboard_shows_violations_per_monitor_and_quality_metrics(
    synthesized: Synthesized, stack: str, model: str, problem: str, thresholds: list[str]
) -> None:
    body = dashboard(synthesized, stack)
    for shown in (
        "Invocations",
        "Errors",
        "Latency",
        "Data quality: violations",
        "Model quality: violations",
        "Model quality metrics",
        "aws/sagemaker/Endpoints/model-metrics",
        *(f'\\"{m}\\"' for m in thresholds),
    ):
        assert shown in body, shown


@pytest.mark.parametrize("stack", [CLASSIFIER_STAGING, REGRESSOR_STAGING])
def test_staging_has_none_of_it(synthesized: Synthesized, stack: str) -> None:
    assert synthesized.resources(stack, "AWS::SageMaker::ModelQualityJobDefinition") == {}
    assert named_alarms(synthesized, stack) == {}
    rules = synthesized.resources(stack, "AWS::Events::Rule").values()
    assert not any("event-bus" in json.dumps(r) for r in rules)
    assert "Model quality" not in dashboard(synthesized, stack)
