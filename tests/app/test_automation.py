"""Issue 4 on the build side, per model: approval rule + Lambda, failure notifications,
retraining schedule (each in `mlops-<model>-build`); GitHub OIDC (shared stacks)."""

from __future__ import annotations

import json

import pytest

from tests.app.conftest import (
    BUILD,
    CLASSIFIER_BUILD,
    MODELS,
    NEW,
    PROD,
    REGRESSOR_BUILD,
    STAGING,
    build_stack,
)

BUILD_STACKS = [build_stack(m) for m in MODELS]


def rules(synthesized, stack):
    return list(synthesized.resources(stack, "AWS::Events::Rule").values())


def rule_for(synthesized, stack, detail_type):
    (rule,) = [
        r
        for r in rules(synthesized, stack)
        if r["Properties"]["EventPattern"]["detail-type"] == [detail_type]
    ]
    return rule


def approval_function(synthesized, stack):
    (function,) = [
        f
        for f in synthesized.resources(stack, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "approval.handler.lambda_handler"
    ]
    return function["Properties"]


@pytest.mark.parametrize("model", MODELS)
def test_approval_rule_filters_its_group_and_exact_statuses(synthesized, model):
    rule = rule_for(synthesized, build_stack(model), "SageMaker Model Package State Change")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {
            "ModelPackageGroupName": [model],
            "ModelApprovalStatus": ["PendingManualApproval", "Approved", "Rejected"],
        },
    }
    assert len(json.dumps(rule["Properties"]["EventPattern"])) < 2048


def test_every_rule_target_retries_and_dead_letters(synthesized):
    checked = forwarded = 0
    for stack in synthesized.templates:
        for rule in rules(synthesized, stack):
            # EventBridge limits that cfn-lint does not check.
            assert len(json.dumps(rule["Properties"]["EventPattern"])) <= 2048
            assert 1 <= len(rule["Properties"]["Targets"]) <= 5
            for target in rule["Properties"]["Targets"]:
                assert "Arn" in target["DeadLetterConfig"]
                checked += 1
                if ":event-bus/" in json.dumps(target["Arn"]):
                    # Alarm forwarding to the build account: event-bus targets take no
                    # RetryPolicy (EventBridge retries them 24 h, then dead-letters).
                    assert "RetryPolicy" not in target and "RoleArn" in target
                    forwarded += 1
                    continue
                assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
                assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 6 * 3600
    # Approval, pipeline failures and retraining on alarms per model (and batch runs);
    # per model served in prod, the forwarding of its alarms to the build account.
    assert forwarded == len(MODELS)
    assert checked >= 3 * len(MODELS) + forwarded


@pytest.mark.parametrize("stack", BUILD_STACKS)
def test_dead_letter_queues_are_kms_encrypted(synthesized, stack):
    queues = synthesized.resources(stack, "AWS::SQS::Queue")
    assert len(queues) == 4  # approval, pipeline failures, retraining schedule and trigger
    for queue in queues.values():
        # The shared key, from the shared build stack.
        assert "mlops-build" in json.dumps(queue["Properties"]["KmsMasterKeyId"])
    assert synthesized.resources(BUILD, "AWS::SQS::Queue") == {}


def test_approval_function_limits_and_failure_destination(synthesized):
    props = approval_function(synthesized, CLASSIFIER_BUILD)
    assert props["Timeout"] == 90
    assert props["ReservedConcurrentExecutions"] == 5
    env = props["Environment"]["Variables"]
    assert env["APPROVAL_POLICY"] == "manual"
    assert json.loads(env["QUALITY_THRESHOLDS"]) == {
        "accuracy": {"minimum": 0.9},
        "auc": {"minimum": 0.95},
    }
    assert (env["PRIMARY_METRIC"], env["PRIMARY_METRIC_DIRECTION"]) == ("auc", "higher")
    assert env["GITHUB_REPOSITORY"] == "example-org/sagemaker-mlops"
    assert env["PROMOTION_TARGET_ENVIRONMENT"] == "staging"
    assert env["PROMOTION_MODEL"] == "tabular-classifier"
    (invoke_config,) = [
        c
        for c in synthesized.resources(CLASSIFIER_BUILD, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"]["Ref"].startswith("ApprovalFunction")
    ]
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    queue, attribute = props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"]
    assert (queue.startswith("ApprovalDeadLetterQueue"), attribute) == (True, "Arn")


def test_regressor_approval_gates_on_maximums_with_lower_is_better(synthesized):
    env = approval_function(synthesized, REGRESSOR_BUILD)["Environment"]["Variables"]
    assert json.loads(env["QUALITY_THRESHOLDS"]) == {
        "rmse": {"maximum": 65.0},
        "mae": {"maximum": 55.0},
    }
    assert (env["PRIMARY_METRIC"], env["PRIMARY_METRIC_DIRECTION"]) == ("rmse", "lower")
    assert env["MODEL_PACKAGE_GROUP_NAME"] == "diabetes-regressor"
    assert env["PROMOTION_MODEL"] == "diabetes-regressor"
    assert env["APPROVAL_POLICY"] == "manual"


def test_added_model_promotes_under_its_model_name_not_its_group(variant):
    """The manifest is keyed by model name: a model whose registry group is named
    otherwise must still pin `models.<model>.<env>`."""
    env = approval_function(variant, build_stack(NEW))["Environment"]["Variables"]
    assert env["MODEL_PACKAGE_GROUP_NAME"] == "churn-scores"
    assert env["PROMOTION_MODEL"] == NEW
    assert env["APPROVAL_POLICY"] == "auto"


@pytest.mark.parametrize("model", MODELS)
def test_approval_function_iam_is_scoped(synthesized, model):
    stack = build_stack(model)
    policies = synthesized.resources(stack, "AWS::IAM::Policy")
    (policy,) = [
        p for k, p in policies.items() if k.startswith("ApprovalFunctionServiceRoleDefaultPolicy")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    text = json.dumps(statements)
    # Manual policy: the function may read packages but not change their status.
    assert "sagemaker:UpdateModelPackage" not in text
    assert f"model-package/{model}/*" in text
    for other in MODELS:
        if other != model:
            assert other not in text, f"{model}'s approval function reaches {other}"
    # Only the pipeline's prefix of the shared artifact bucket, read-only.
    (s3,) = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    assert s3["Action"] == ["s3:GetBucket*", "s3:GetObject*", "s3:List*"]
    resources = json.dumps(s3["Resource"])
    assert f'"/pipelines/{model}/*"' in resources
    assert '"StackName": "mlops-build"' in resources
    assert "s3:PutObject" not in text
    # Only its own secret.
    (secret,) = [
        s for s in statements if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])
    ]
    assert "secret:mlops/github-token-??????" in json.dumps(secret["Resource"])


@pytest.mark.parametrize("model", MODELS)
def test_pipeline_failures_go_to_the_shared_encrypted_topic(synthesized, model):
    stack = build_stack(model)
    rule = rule_for(synthesized, stack, "SageMaker Model Building Pipeline Execution Status Change")
    pattern = rule["Properties"]["EventPattern"]["detail"]
    assert pattern["currentPipelineExecutionStatus"] == ["Failed", "Stopped"]
    assert pattern["pipelineArn"] == [f"arn:aws:sagemaker:eu-west-1:111111111111:pipeline/{model}"]
    (target,) = rule["Properties"]["Targets"]
    assert "mlops-build" in json.dumps(target["Arn"])
    (topic,) = synthesized.resources(BUILD, "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    assert synthesized.resources(stack, "AWS::SNS::Topic") == {}


def test_retraining_schedule_starts_the_pipeline_with_parameters(synthesized):
    (schedule,) = synthesized.resources(CLASSIFIER_BUILD, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["State"] == "ENABLED"
    assert props["ScheduleExpression"] == "cron(0 3 ? * MON *)"
    target = props["Target"]
    assert target["Arn"] == "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/tabular-classifier"
    assert target["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "ModelApprovalStatus", "Value": "PendingManualApproval"}
    ]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 10
    assert "Arn" in target["DeadLetterConfig"]


def test_retraining_follows_each_models_setting(synthesized):
    (schedule,) = synthesized.resources(REGRESSOR_BUILD, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["State"] == "DISABLED"
    assert schedule["Properties"]["Target"]["Arn"].endswith(":pipeline/diabetes-regressor")


def test_github_oidc_roles_are_limited_to_the_repository(synthesized):
    repo = "repo:example-org/sagemaker-mlops"
    for stack, subjects in [
        (BUILD, [f"{repo}:ref:refs/heads/main:ref:refs/heads/main", f"{repo}:ref:refs/heads/main"]),
        (STAGING, f"{repo}:environment:staging:ref:refs/heads/main"),
        (PROD, f"{repo}:environment:prod:ref:refs/heads/main"),
    ]:
        roles = synthesized.resources(stack, "AWS::IAM::Role")
        (deploy,) = [
            r for r in roles.values() if r["Properties"].get("RoleName", "").endswith("-deploy")
        ]
        env = stack.removeprefix("mlops-")
        # The name the workflows assume (.github/workflows/*.yml).
        assert deploy["Properties"]["RoleName"] == f"mlops-github-{env}-deploy"
        (statement,) = deploy["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": subjects,
            }
        }
    # Once per account: no model stack has an OIDC provider or a GitHub role.
    for stack in synthesized.templates:
        if stack not in (BUILD, STAGING, PROD):
            assert synthesized.resources(stack, "AWS::IAM::OIDCProvider") == {}, stack
            assert "mlops-github" not in json.dumps(
                synthesized.resources(stack, "AWS::IAM::Role")
            ), stack
