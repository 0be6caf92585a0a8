"""ModelApproval, PipelineNotifications, RetrainingSchedule: props and errors
(GitHubDeployAccess: test_github_deploy_access.py)."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Capture, Match, Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.metrics import MetricThreshold
from constructs_lib.model_approval import ModelApproval
from constructs_lib.pipeline_notifications import PipelineNotifications
from constructs_lib.retraining_schedule import RetrainingSchedule
from constructs_lib.sagemaker_pipeline import SageMakerPipeline
from tests.constructs.automation import parts
from tests.support.principals import service_grants, unconditioned


def approval(stack, **kwargs):
    store, registry, _ = parts(stack)
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    kwargs.setdefault("thresholds", [MetricThreshold(metric="accuracy", minimum=0.9)])
    kwargs.setdefault("primary_metric", "accuracy")
    kwargs.setdefault("registry", registry)
    kwargs.setdefault("artifacts", store)
    kwargs.setdefault("evaluation_prefix", "pipelines/churn/")
    kwargs.setdefault("topic", topic)
    kwargs.setdefault("key", store.key)
    return ModelApproval(stack, "Approval", **kwargs)


def function_policy(stack) -> str:
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("ApprovalFunctionServiceRole")]
    return json.dumps(policy["Properties"]["PolicyDocument"])


def test_auto_policy_may_approve_and_manual_may_not(stack):
    approval(stack, policy="auto")
    assert "sagemaker:UpdateModelPackage" in function_policy(stack)


def test_manual_policy_reads_only(stack):
    approval(stack, policy="manual")
    text = function_policy(stack)
    assert "sagemaker:UpdateModelPackage" not in text
    assert "sagemaker:ListModelPackages" in text


def test_no_repository_means_no_secret_access(stack):
    approval(stack)
    assert "secretsmanager" not in function_policy(stack)


def function_environment(stack) -> dict[str, str]:
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    (function,) = [
        f
        for f in functions.values()
        if f["Properties"].get("Handler") == "approval.handler.lambda_handler"
    ]
    variables: dict[str, str] = function["Properties"]["Environment"]["Variables"]
    return variables


def rmse(**kwargs):
    return [MetricThreshold(metric="rmse", maximum=3.5), MetricThreshold(metric="r2", minimum=0.5)]


def test_thresholds_and_direction_reach_the_function(stack):
    approval(stack, thresholds=rmse(), primary_metric="rmse", problem_type="regression")
    env = function_environment(stack)
    assert json.loads(env["QUALITY_THRESHOLDS"]) == {
        "r2": {"minimum": 0.5},
        "rmse": {"maximum": 3.5},
    }
    assert (env["PRIMARY_METRIC"], env["PRIMARY_METRIC_DIRECTION"]) == ("rmse", "lower")


def test_promotion_model_defaults_to_the_group_name(stack):
    approval(stack)
    env = function_environment(stack)
    assert env["PROMOTION_MODEL"] == env["MODEL_PACKAGE_GROUP_NAME"]


def test_promotion_model_reaches_the_function(stack):
    approval(stack, promotion_model="diabetes-regressor", target_environment="prod")
    env = function_environment(stack)
    assert (env["PROMOTION_MODEL"], env["PROMOTION_TARGET_ENVIRONMENT"]) == (
        "diabetes-regressor",
        "prod",
    )


@pytest.mark.parametrize(
    ("kwargs", "direction"),
    [
        ({"primary_metric": "mae"}, "lower"),  # no threshold: SageMaker's table
        ({"primary_metric": "r2"}, "higher"),
        ({"primary_metric": "mape", "primary_metric_direction": "lower"}, "lower"),
    ],
)
def test_primary_direction_comes_from_the_table_or_the_prop(stack, kwargs, direction):
    approval(stack, thresholds=rmse(), **kwargs)
    assert function_environment(stack)["PRIMARY_METRIC_DIRECTION"] == direction


def test_custom_report_metrics_are_allowed_with_their_direction(stack):
    approval(
        stack,
        problem_type="regression",
        report_metrics=["mape"],
        thresholds=[MetricThreshold(metric="mape", maximum=0.2)],
        primary_metric="mape",
    )
    assert function_environment(stack)["PRIMARY_METRIC_DIRECTION"] == "lower"


def test_an_imported_group_is_judged_and_its_packages_read(stack):
    from constructs_lib.model_registry import ModelRegistry

    group = ModelRegistry.from_model_package_group_name(stack, "Group", "house-prices")
    approval(stack, registry=group, policy="auto")
    policy = function_policy(stack)
    assert "sagemaker:UpdateModelPackage" in policy
    assert "arn:aws:sagemaker:eu-west-1:111111111111:model-package/house-prices/*" in policy


def test_function_is_the_default_child_and_reserves_nothing_when_told(stack):
    made = approval(stack, reserved_concurrency=None, timeout=Duration.seconds(900))
    assert made.node.default_child is made.function
    (function,) = [
        f
        for f in Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "approval.handler.lambda_handler"
    ]
    assert "ReservedConcurrentExecutions" not in function["Properties"]
    assert function["Properties"]["Timeout"] == 900


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "sometimes"}, "ModelApproval policy: got 'sometimes'; allowed 'manual' or"),
        ({"thresholds": []}, "ModelApproval thresholds: got none; allowed at least one"),
        (
            {"thresholds": {"accuracy": 0.9}},
            r"ModelApproval thresholds: got a dict .*; allowed a list of MetricThreshold",
        ),
        (
            {"thresholds": ["accuracy"]},
            r"ModelApproval thresholds: got \['accuracy'\]; allowed a list of MetricThreshold",
        ),
        (
            {
                "thresholds": [
                    MetricThreshold(metric="auc", minimum=0.9),
                    MetricThreshold(metric="auc", minimum=0.8),
                ]
            },
            r"ModelApproval thresholds: got \['auc'\] more than once",
        ),
        (
            {"problem_type": "binary_classification", "thresholds": rmse()},
            r"ModelApproval thresholds: got \['r2', 'rmse'\]; allowed metrics the evaluation"
            r" report contains \(problem_type 'binary_classification'\): accuracy, .*auc",
        ),
        (
            {"problem_type": "regression", "thresholds": rmse(), "primary_metric": "auc"},
            r"ModelApproval primary_metric: got 'auc'; allowed metrics the evaluation report"
            r" contains \(problem_type 'regression'\): mae, mse, r2, rmse",
        ),
        (
            {"report_metrics": ["accuracy", "auc"], "primary_metric": "f1"},
            r"primary_metric: got 'f1'; allowed .*\(report_metrics \['accuracy', 'auc'\]\)",
        ),
        ({"problem_type": "ranking"}, "ModelApproval problem_type: got 'ranking'; allowed None"),
        ({"report_metrics": "auc"}, "ModelApproval report_metrics: got a str 'auc'"),
        ({"primary_metric": ""}, "ModelApproval primary_metric: got ''; allowed a metric name"),
        (
            {"primary_metric": "mape"},
            "ModelApproval primary_metric_direction: got None; allowed 'higher' or 'lower':"
            " 'mape' has no threshold",
        ),
        (
            {"primary_metric_direction": "up"},
            "ModelApproval primary_metric_direction: got 'up'; allowed None or 'higher'",
        ),
        (
            {"primary_metric_direction": "lower"},
            "ModelApproval primary_metric_direction: got 'lower'; allowed 'higher', as its"
            " threshold says for 'accuracy'",
        ),
        (
            {"primary_metric": "rmse", "primary_metric_direction": "higher"},
            "primary_metric_direction: got 'higher'; allowed 'lower', as SageMaker's metric"
            " table says for 'rmse'",
        ),
        (
            {"github_repository": "org/repo"},
            "ModelApproval github_token_secret_name: got None; allowed the name of the Secrets"
            " Manager secret holding the token of github_repository 'org/repo'",
        ),
        (
            {"github_token_secret_name": "mlops/github-token"},
            "ModelApproval github_token_secret_name: got 'mlops/github-token'; allowed only"
            " with github_repository",
        ),
        (
            {"github_repository": "org/repo", "github_token_secret_name": "bad name!"},
            "ModelApproval github_token_secret_name: got 'bad name!'; allowed a Secrets Manager",
        ),
        (
            {"github_repository": "just-a-name", "github_token_secret_name": "t"},
            "ModelApproval github_repository: got 'just-a-name'; allowed owner/name",
        ),
        (
            {"github_base_branch": "main..dev"},
            "ModelApproval github_base_branch: got 'main..dev'; allowed a git branch name",
        ),
        ({"target_environment": "Prod"}, "ModelApproval target_environment: got 'Prod'"),
        (
            {"promotion_model": "my model"},
            "ModelApproval promotion_model: got 'my model'; allowed a model name of the manifest",
        ),
        ({"promotion_model": 7}, "ModelApproval promotion_model: got an int 7; allowed a model"),
        (
            {"manifest_path": "../promotion.yaml"},
            "ModelApproval manifest_path: got '../promotion.yaml'; allowed a path relative",
        ),
        (
            {"manifest_path": "/etc/promotion.yaml"},
            "ModelApproval manifest_path: got '/etc/promotion.yaml'",
        ),
        (
            {"timeout": Duration.seconds(901)},
            "ModelApproval timeout: got 901 s; allowed a Duration from 1 s to 900 s",
        ),
        ({"timeout": 90}, "ModelApproval timeout: got an int 90; allowed a Duration"),
        (
            {"reserved_concurrency": 0},
            "ModelApproval reserved_concurrency: got 0; allowed a whole number from 1 up",
        ),
        (
            {"reserved_concurrency": "5"},
            "ModelApproval reserved_concurrency: got a str '5'; allowed a whole number",
        ),
        (
            {"evaluation_prefix": "pipelines/churn"},
            "ModelApproval evaluation_prefix: got 'pipelines/churn'; allowed an S3 key prefix",
        ),
        ({"registry": "churn"}, "ModelApproval registry: got a str 'churn'; allowed an"),
        ({"artifacts": "bucket"}, "ModelApproval artifacts: got a str 'bucket'; allowed an"),
        ({"topic": "arn:aws:sns:x"}, "ModelApproval topic: got a str 'arn:aws:sns:x'; allowed"),
        ({"key": None}, "ModelApproval key: got a NoneType None; allowed a kms.IKey"),
        ({"code_path": 7}, "ModelApproval code_path: got an int; allowed a Path"),
    ],
)
def test_approval_errors_name_the_prop(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        approval(stack, **kwargs)


def test_approval_reports_every_problem_at_once(stack):
    with pytest.raises(ConfigurationError, match="policy: got 'x'.*; timeout: got 0 s"):
        approval(stack, policy="x", timeout=Duration.seconds(0))


def test_approval_code_path_must_hold_the_handler(stack, tmp_path):
    with pytest.raises(ConfigurationError, match="code_path: got .*; allowed a folder holding"):
        approval(stack, code_path=tmp_path)


def test_approval_code_is_found_in_the_installed_package_first(stack, tmp_path, monkeypatch):
    from constructs_lib import model_approval

    packaged = tmp_path / "_lambdas"
    (packaged / "approval").mkdir(parents=True)
    (packaged / "approval" / "handler.py").write_text("def lambda_handler(e, c): ...\n")
    monkeypatch.setattr(model_approval, "PACKAGED_CODE", packaged)
    assert model_approval.default_code_path() == packaged
    monkeypatch.setattr(model_approval, "PACKAGED_CODE", tmp_path / "missing")
    assert model_approval.default_code_path() == model_approval.SOURCE_CODE


def test_approval_without_code_anywhere_says_where_it_looked(stack, tmp_path, monkeypatch):
    from constructs_lib import model_approval

    monkeypatch.setattr(model_approval, "PACKAGED_CODE", tmp_path / "a")
    monkeypatch.setattr(model_approval, "SOURCE_CODE", tmp_path / "b")
    with pytest.raises(ConfigurationError, match="code_path: got None; .*reinstall the library"):
        approval(stack)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "auc"}, "MetricThreshold minimum/maximum: got neither; allowed exactly one"),
        (
            {"metric": "auc", "minimum": 0.9, "maximum": 1.0},
            "MetricThreshold minimum/maximum: got both",
        ),
        (
            {"metric": "rmse", "minimum": 3.5},
            "MetricThreshold minimum: got a minimum for rmse; allowed a maximum: rmse is better"
            " when lower",
        ),
        (
            {"metric": "accuracy", "maximum": 0.9},
            "MetricThreshold maximum: got a maximum for accuracy; allowed a minimum",
        ),
        ({"metric": "auc", "minimum": "0.9"}, "MetricThreshold minimum: got a str '0.9'"),
        ({"metric": "auc", "minimum": True}, "MetricThreshold minimum: got a bool True"),
        (
            {"metric": "auc", "maximum": float("inf")},
            "MetricThreshold maximum: got a float inf; allowed a number",
        ),
        ({"metric": 7, "minimum": 1}, "MetricThreshold metric: got an int 7"),
        ({"metric": " ", "minimum": 1}, "MetricThreshold metric: got ' '"),
    ],
)
def test_metric_threshold_errors_name_the_field(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        MetricThreshold(**kwargs)


def test_metric_threshold_direction():
    assert MetricThreshold(metric="rmse", maximum=3.5).direction == "lower"
    assert MetricThreshold(metric="custom", minimum=1).direction == "higher"
    assert MetricThreshold(metric="custom", maximum=2).bound == 2.0


def test_notifications_reject_unknown_status(stack):
    store, _, pipeline = parts(stack)
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    with pytest.raises(
        ConfigurationError, match=r"PipelineNotifications statuses: got \['Broken'\]; allowed"
    ):
        PipelineNotifications(
            stack, "N", pipeline=pipeline, topic=topic, topic_key=store.key, statuses=["Broken"]
        )


def test_notifications_reject_a_bare_string_status(stack):
    store, _, pipeline = parts(stack)
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    with pytest.raises(
        ConfigurationError,
        match="PipelineNotifications statuses: got a str 'Failed'; allowed a list",
    ):
        PipelineNotifications(
            stack, "N", pipeline=pipeline, topic=topic, topic_key=store.key, statuses="Failed"
        )


def test_notifications_watch_an_imported_pipeline_and_expose_the_rule(stack):
    store, _, _ = parts(stack)
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    imported = SageMakerPipeline.from_pipeline_name(stack, "Existing", "Fraud")
    notifications = PipelineNotifications(
        stack, "N", pipeline=imported, topic=topic, topic_key=store.key
    )
    assert notifications.node.default_child is notifications.rule
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "detail": {
                    "pipelineArn": ["arn:aws:sagemaker:eu-west-1:111111111111:pipeline/fraud"],
                    "currentPipelineExecutionStatus": ["Failed", "Stopped"],
                }
            }
        },
    )


def test_disabled_schedule_still_exists_and_starts_only_this_pipeline(stack):
    store, _, pipeline = parts(stack)
    RetrainingSchedule(
        stack,
        "S",
        pipeline=pipeline,
        key=store.key,
        schedule_expression="rate(7 days)",
        enabled=False,
    )
    t = Template.from_stack(stack)
    (schedule,) = t.find_resources("AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["State"] == "DISABLED"
    assert "SageMakerPipelineParameters" in schedule["Properties"]["Target"]
    text = json.dumps(t.find_resources("AWS::IAM::Policy"))
    assert "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/churn" in text


def test_schedule_of_an_imported_pipeline_takes_any_parameter(stack):
    store, _, _ = parts(stack)
    imported = SageMakerPipeline.from_pipeline_name(stack, "Existing", "fraud")
    schedule = RetrainingSchedule(
        stack,
        "S",
        pipeline=imported,
        key=store.key,
        schedule_expression="rate(1 day)",
        parameters={"Anything": "x"},  # the definition is unknown: SageMaker checks at start
    )
    assert schedule.node.default_child is schedule.resource
    Template.from_stack(stack).has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "Target": {
                "Arn": "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/fraud",
                "SageMakerPipelineParameters": {
                    "PipelineParameterList": [{"Name": "Anything", "Value": "x"}]
                },
            }
        },
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"schedule_expression": "weekly"},
            r"RetrainingSchedule schedule_expression: got 'weekly'; allowed cron\(...\)",
        ),
        (
            {"parameters": {"Nope": "x"}},
            r"RetrainingSchedule parameters: got \['Nope'\]; allowed parameters of pipeline churn:"
            r" \['ModelApprovalStatus'\]",
        ),
        (
            {"parameters": {"ModelApprovalStatus": 1}},
            r"RetrainingSchedule parameters: got \{'ModelApprovalStatus': 1\}; allowed str values",
        ),
        ({"enabled": "yes"}, "RetrainingSchedule enabled: got a str 'yes'; allowed True or False"),
        ({"timezone": "UTC +1"}, "RetrainingSchedule timezone: got 'UTC \\+1'; allowed an IANA"),
    ],
)
def test_schedule_errors_name_the_setting(stack, kwargs, message):
    store, _, pipeline = parts(stack)
    kwargs.setdefault("schedule_expression", "cron(0 3 ? * MON *)")
    with pytest.raises(ConfigurationError, match=message):
        RetrainingSchedule(stack, "S", pipeline=pipeline, key=store.key, **kwargs)


def test_approval_reads_reports_from_any_bucket(stack):
    """An existing bucket (not an ArtifactStore) holds the reports: read on the prefix only."""
    from aws_cdk import aws_s3 as s3

    bucket = s3.Bucket.from_bucket_name(stack, "Reports", "team-reports")
    approval(stack, artifacts=bucket, evaluation_prefix="models/churn/")
    statements = json.loads(function_policy(stack))["Statement"]
    reads = [s for s in statements if "s3:GetObject*" in s["Action"]]
    assert [r["Resource"] for r in reads] == [
        ["arn:aws:s3:::team-reports", "arn:aws:s3:::team-reports/models/churn/*"]
    ]


# Confused deputy: every service principal these constructs add names its source, or is
# one AWS documents as unable to (tests/support/principals.py).


def grants_without_source(stack):  # type: ignore[no-untyped-def]
    template = Template.from_stack(stack).to_json()
    return unconditioned(service_grants(template), "111111111111", template)


def key_services(stack) -> dict[str, dict]:  # type: ignore[type-arg]
    """The service statements of the stack's keys, by service."""
    keys = Template.from_stack(stack).find_resources("AWS::KMS::Key").values()
    return {
        s["Principal"]["Service"]: s
        for key in keys
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if "Service" in s["Principal"]
    }


def test_schedule_role_trusts_only_this_accounts_default_schedule_group(stack):
    store, _, pipeline = parts(stack)
    RetrainingSchedule(
        stack, "S", pipeline=pipeline, key=store.key, schedule_expression="rate(1 day)"
    )
    roles = Template.from_stack(stack).find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("on a schedule")}}
    )
    (role,) = roles.values()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111111111111"},
        "ArnEquals": {
            "aws:SourceArn": "arn:aws:scheduler:eu-west-1:111111111111:schedule-group/default"
        },
    }
    # The scheduler's role sends dead letters: EventBridge gets nothing on the key.
    assert "events.amazonaws.com" not in key_services(stack)
    assert grants_without_source(stack) == []


def test_approval_rule_is_the_only_source_of_its_invocations_and_dead_letters(stack):
    approval(stack)
    t = Template.from_stack(stack)
    rule = Capture()
    t.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": [rule, "Arn"]}},
    )
    assert t.to_json()["Resources"][rule.as_string()]["Type"] == "AWS::Events::Rule"
    t.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Condition": {
                                    "ArnEquals": {
                                        "aws:SourceArn": {"Fn::GetAtt": [rule.as_string(), "Arn"]}
                                    }
                                },
                            }
                        )
                    ]
                )
            }
        },
    )
    events = key_services(stack)["events.amazonaws.com"]
    assert events["Sid"] == "AllowEventBridgeToDeliverEncrypted"
    assert "Condition" not in events  # EventBridge's KMS calls carry no source keys
    assert grants_without_source(stack) == []


def test_notifications_name_their_rule_on_the_dead_letter_queue(stack):
    store, _, pipeline = parts(stack)
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    notifications = PipelineNotifications(
        stack, "N", pipeline=pipeline, topic=topic, topic_key=store.key
    )
    rule_id = stack.get_logical_id(notifications.rule.node.default_child)
    (queue_policy,) = Template.from_stack(stack).find_resources("AWS::SQS::QueuePolicy").values()
    (send,) = [
        s
        for s in queue_policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    # Only the documented exceptions: EventBridge on the topic policy and the key.
    assert grants_without_source(stack) == []
