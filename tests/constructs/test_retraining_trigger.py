"""RetrainingTrigger: the rule, the function's limits and grants, one test per error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Environment, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.retraining_trigger import RetrainingTrigger
from constructs_lib.sagemaker_pipeline import SageMakerPipeline
from tests.app.test_templates import lint_errors
from tests.conftest import ACCOUNT, REGION, cdk_context
from tests.constructs.automation import parts


def drift_alarm(stack: Stack, name: str = "Drift") -> cloudwatch.Alarm:
    return cloudwatch.Metric(
        namespace="aws/sagemaker/Endpoints/data-metrics",
        metric_name="feature_baseline_drift_age",
        dimensions_map={"Endpoint": "churn-prod", "MonitoringSchedule": "churn-prod-dq"},
    ).create_alarm(stack, name, threshold=0.2, evaluation_periods=1)


def trigger(stack: Stack, **kwargs):  # type: ignore[no-untyped-def]
    store, _, pipeline = parts(stack)
    kwargs.setdefault("pipeline", pipeline)
    kwargs.setdefault("alarms", [drift_alarm(stack)])
    kwargs.setdefault("key", store.key)
    return RetrainingTrigger(stack, "Retrain", **kwargs)


def function(stack: Stack) -> dict:
    (found,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    return found  # type: ignore[no-any-return]


def test_rule_matches_the_alarms_entering_alarm(stack):
    trigger(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": [{"Fn::GetAtt": [Match.string_like_regexp("^Drift"), "Arn"]}],
                "detail": {"state": {"value": ["ALARM"]}},
            },
            "Targets": [
                Match.object_like(
                    {
                        "RetryPolicy": {
                            "MaximumRetryAttempts": 8,
                            "MaximumEventAgeInSeconds": 21600,
                        },
                        "DeadLetterConfig": {"Arn": Match.any_value()},
                    }
                )
            ],
        },
    )


def test_alarms_of_another_account_are_matched_by_account_and_arn(stack):
    """Forwarded from a deploy account: imported by ARN, filtered on the sender."""
    arn = "arn:aws:cloudwatch:eu-west-1:333333333333:alarm:churn-prod-drift-age"
    trigger(
        stack,
        alarms=[cloudwatch.Alarm.from_alarm_arn(stack, "Remote", arn)],
        source_accounts=["333333333333"],
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "account": ["333333333333"],
                "resources": [arn],
                "detail": {"state": {"value": ["ALARM"]}},
            }
        },
    )


def test_function_runs_one_at_a_time_and_dead_letters(stack):
    trigger(stack)
    props = function(stack)["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Handler"] == "retraining.handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert "DeadLetterConfig" in props
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value()}
    )


def test_environment_carries_the_settings(stack):
    trigger(
        stack,
        min_interval=Duration.hours(12),
        parameters={"ModelApprovalStatus": "PendingManualApproval"},
    )
    env = function(stack)["Properties"]["Environment"]["Variables"]
    assert env["PIPELINE_NAME"] == "churn"
    assert env["MIN_INTERVAL_SECONDS"] == "43200"
    assert json.loads(env["PIPELINE_PARAMETERS"]) == {
        "ModelApprovalStatus": "PendingManualApproval"
    }
    assert env["TRIGGER_PARAMETER"] == "" and env["NOTIFICATION_TOPIC_ARN"] == ""


def test_default_interval_is_a_day(stack):
    trigger(stack)
    assert (
        function(stack)["Properties"]["Environment"]["Variables"]["MIN_INTERVAL_SECONDS"] == "86400"
    )


def test_function_may_list_and_start_only_this_pipeline(stack):
    trigger(stack)
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("RetrainFunctionServiceRole")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    sagemaker = [s for s in statements if "sagemaker" in json.dumps(s["Action"])]
    actions = sorted(
        a
        for s in sagemaker
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == [
        "sagemaker:DescribePipeline",
        "sagemaker:ListPipelineExecutions",
        "sagemaker:StartPipelineExecution",
    ]
    for statement in sagemaker:
        assert ":pipeline/churn" in json.dumps(statement["Resource"])


def test_topic_gets_publish_and_the_dead_letter_alarm(stack):
    store = ArtifactStore(stack, "Other")
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    trigger(stack, topic=topic)
    env = function(stack)["Properties"]["Environment"]["Variables"]
    assert (
        env["NOTIFICATION_TOPIC_ARN"] == {"Ref": Match.string_like_regexp("^Topic")}
        or "Ref" in env["NOTIFICATION_TOPIC_ARN"]
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmDescription": Match.string_like_regexp("dead-lettered"),
            "AlarmActions": [{"Ref": Match.string_like_regexp("^Topic")}],
        },
    )


def test_trigger_parameter_reaches_the_function(stack):
    store, _, _ = parts(stack)
    pipeline = SageMakerPipeline(
        stack,
        "Retrainable",
        pipeline_name="retrainable",
        artifact_bucket=store.bucket,
        definition={
            "Version": "2020-12-01",
            "Parameters": [{"Name": "TriggeredBy", "Type": "String", "DefaultValue": "schedule"}],
            "Steps": [{"Name": "Fail", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}],
        },
    )
    RetrainingTrigger(
        stack,
        "Retrain",
        pipeline=pipeline,
        alarms=[drift_alarm(stack)],
        key=store.key,
        trigger_parameter="TriggeredBy",
    )
    assert (
        function(stack)["Properties"]["Environment"]["Variables"]["TRIGGER_PARAMETER"]
        == "TriggeredBy"
    )


def test_an_imported_pipeline_accepts_any_parameter_names(stack):
    store = ArtifactStore(stack, "Store")
    pipeline = SageMakerPipeline.from_pipeline_name(stack, "Imported", "churn")
    RetrainingTrigger(
        stack,
        "Retrain",
        pipeline=pipeline,
        alarms=[drift_alarm(stack)],
        key=store.key,
        parameters={"Anything": "x"},
        trigger_parameter="Why",
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pipeline": "churn"}, "pipeline: got a str 'churn'; allowed an IPipeline"),
        ({"alarms": []}, r"alarms: got 0 alarms; allowed a list of 1 to 20"),
        ({"alarms": "Drift"}, "alarms: got a str 'Drift'"),
        ({"alarms": ["Drift"]}, r"alarms\[0\]: got a str 'Drift'; allowed a cloudwatch.IAlarm"),
        ({"key": "alias/x"}, "key: got a str 'alias/x'; allowed a kms.IKey"),
        ({"min_interval": 3600}, "min_interval: got an int 3600; allowed a Duration"),
        ({"min_interval": Duration.days(400)}, "min_interval: got 34560000 s"),
        ({"parameters": ["x"]}, "parameters: got a list"),
        (
            {"parameters": {"ModelApprovalStatus": 1}},
            "parameters: got .*str values of at most 1024",
        ),
        ({"parameters": {"ModelApprovalStatus": "x" * 1025}}, "at most 1024 characters"),
        (
            {"parameters": {"Unknown": "x"}},
            r"parameters: got \['Unknown'\]; allowed parameters of pipeline 'churn'",
        ),
        (
            {"trigger_parameter": "TriggeredBy"},
            "trigger_parameter: got 'TriggeredBy'; allowed a String parameter",
        ),
        ({"trigger_parameter": "bad name"}, "trigger_parameter: got 'bad name'"),
        (
            {
                "trigger_parameter": "ModelApprovalStatus",
                "parameters": {"ModelApprovalStatus": "x"},
            },
            "trigger_parameter: got 'ModelApprovalStatus'; allowed a parameter not also set",
        ),
        ({"topic": "arn:aws:sns:eu-west-1:111111111111:t"}, "topic: got a str"),
        (
            {"source_accounts": ["3333"]},
            r"source_accounts: got \['3333'\]; allowed each 12-digit account id",
        ),
        ({"source_accounts": []}, "source_accounts: got 0 accounts; allowed 1 to 20"),
        (
            {"code_path": Path("/nonexistent")},
            "code_path: got /nonexistent; allowed a folder holding retraining/handler.py",
        ),
        ({"code_path": 3}, "code_path: got an int; allowed a Path"),
    ],
)
def test_invalid_props(stack, kwargs, match):
    with pytest.raises(ConfigurationError, match=f"^RetrainingTrigger .*{match}"):
        trigger(stack, **kwargs)


def test_too_many_alarms(stack):
    alarms = [drift_alarm(stack, f"A{i}") for i in range(21)]
    with pytest.raises(ConfigurationError, match="alarms: got 21 alarms"):
        trigger(stack, alarms=alarms)


def test_four_nag_packs_and_cfn_lint_are_clean(tmp_path):
    app = App(
        outdir=str(tmp_path), context={**cdk_context(), "@aws-cdk/core:validateTemplates": False}
    )
    stack = Stack(app, "Trigger", env=Environment(account=ACCOUNT, region=REGION))
    store = ArtifactStore(stack, "Store")
    topic = sns.Topic(stack, "Topic", master_key=store.key, enforce_ssl=True)
    alarm = drift_alarm(stack)
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    pipeline = SageMakerPipeline.from_pipeline_name(stack, "Pipeline", "churn")
    RetrainingTrigger(
        stack, "WithTopic", pipeline=pipeline, alarms=[alarm], key=store.key, topic=topic
    )
    RetrainingTrigger(stack, "WithoutTopic", pipeline=pipeline, alarms=[alarm], key=store.key)
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
    assert lint_errors(tmp_path / "Trigger.template.json") == []
