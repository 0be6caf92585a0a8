"""ModelApproval, PipelineNotifications, RetrainingSchedule, GitHubDeployAccess: props and errors."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.github_deploy_access import GitHubDeployAccess
from constructs_lib.model_approval import ModelApproval
from constructs_lib.pipeline_notifications import PipelineNotifications
from constructs_lib.retraining_schedule import RetrainingSchedule
from tests.constructs.automation import parts


def approval(stack, **kwargs):
    store, registry, _ = parts(stack)
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    kwargs.setdefault("thresholds", {"accuracy": 0.9})
    kwargs.setdefault("primary_metric", "accuracy")
    return ModelApproval(
        stack,
        "Approval",
        registry=registry,
        artifacts=store,
        evaluation_prefix="pipelines/churn/",
        topic=topic,
        key=store.key,
        **kwargs,
    )


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "sometimes"}, "approval.policy: got 'sometimes'; allowed manual or auto"),
        ({"thresholds": {}}, "approval.thresholds: got none"),
        (
            {"primary_metric": "f1"},
            r"approval.primary_metric: got 'f1'; must be one of the thresholds \['accuracy'\]",
        ),
        (
            {"github_repository": "org/repo"},
            "promotion.token_secret_name: github repository 'org/repo' needs",
        ),
    ],
)
def test_approval_errors_name_the_setting(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        approval(stack, **kwargs)


def test_approval_code_path_must_hold_the_handler(stack, tmp_path):
    with pytest.raises(ConfigurationError, match="has no approval/handler.py"):
        approval(stack, code_path=tmp_path)


def test_notifications_reject_unknown_status(stack):
    store, _, pipeline = parts(stack)
    topic = sns.Topic(stack, "Topic", master_key=store.key)
    with pytest.raises(ConfigurationError, match=r"statuses: got \['Broken'\]"):
        PipelineNotifications(
            stack, "N", pipeline=pipeline, topic=topic, topic_key=store.key, statuses=["Broken"]
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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule_expression": "weekly"}, "retraining.schedule_expression: got 'weekly'"),
        (
            {"parameters": {"Nope": "x"}},
            r"retraining.parameters: got \['Nope'\], not parameters of pipeline churn",
        ),
    ],
)
def test_schedule_errors_name_the_setting(stack, kwargs, message):
    store, _, pipeline = parts(stack)
    kwargs.setdefault("schedule_expression", "cron(0 3 ? * MON *)")
    with pytest.raises(ConfigurationError, match=message):
        RetrainingSchedule(stack, "S", pipeline=pipeline, key=store.key, **kwargs)


def test_existing_provider_is_reused_at_its_fixed_arn(stack):
    access = GitHubDeployAccess(stack, "GitHub", repository="org/repo", create_provider=False)
    t = Template.from_stack(stack)
    assert t.find_resources("AWS::IAM::OIDCProvider") == {}
    assert stack.resolve(access.provider_arn) == (
        "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    )


def test_diff_role_trusts_only_pull_requests(stack):
    GitHubDeployAccess(stack, "GitHub", repository="org/repo")
    roles = Template.from_stack(stack).find_resources("AWS::IAM::Role")
    (diff,) = [r for k, r in roles.items() if k.startswith("GitHubDiffRole")]
    (statement,) = diff["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["ForAnyValue:StringLike"] == {
        "token.actions.githubusercontent.com:sub": ["repo:org/repo:pull_request"]
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repository": "not-a-repo"}, "github.repository: got 'not-a-repo'; expected owner/name"),
        (
            {"repository": "o/r", "branches": [], "environments": []},
            "both empty; nothing could ever deploy",
        ),
        (
            {"repository": "o/r", "branches": ["a b"]},
            r"github.branches/environments: got \['a b'\]",
        ),
        (
            {
                "repository": "o/r",
                "existing_provider_arn": "arn:aws:iam::1:oidc-provider/x",
                "create_provider": False,
            },
            "not both",
        ),
    ],
)
def test_github_errors_name_the_setting(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        GitHubDeployAccess(stack, "GitHub", **kwargs)
