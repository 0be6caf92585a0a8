"""Issue 4 on the build side: approval rule + Lambda, failure notifications, schedule, OIDC."""

from __future__ import annotations

import json

from tests.app.conftest import BUILD


def rules(synthesized):
    return list(synthesized.resources(BUILD, "AWS::Events::Rule").values())


def rule_for(synthesized, detail_type):
    (rule,) = [
        r
        for r in rules(synthesized)
        if r["Properties"]["EventPattern"]["detail-type"] == [detail_type]
    ]
    return rule


def test_approval_rule_filters_group_and_exact_statuses(synthesized):
    rule = rule_for(synthesized, "SageMaker Model Package State Change")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {
            "ModelPackageGroupName": ["tabular-classifier"],
            "ModelApprovalStatus": ["PendingManualApproval", "Approved", "Rejected"],
        },
    }
    assert len(json.dumps(rule["Properties"]["EventPattern"])) < 2048


def test_every_rule_target_retries_and_dead_letters(synthesized):
    for rule in rules(synthesized):
        # EventBridge limits that cfn-lint does not check.
        assert len(json.dumps(rule["Properties"]["EventPattern"])) <= 2048
        assert 1 <= len(rule["Properties"]["Targets"]) <= 5
        for target in rule["Properties"]["Targets"]:
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 6 * 3600
            assert "Arn" in target["DeadLetterConfig"]


def test_dead_letter_queues_are_kms_encrypted(synthesized):
    queues = synthesized.resources(BUILD, "AWS::SQS::Queue")
    assert len(queues) == 3  # approval, pipeline failures, retraining schedule
    for queue in queues.values():
        assert "Fn::GetAtt" in queue["Properties"]["KmsMasterKeyId"]


def test_approval_function_limits_and_failure_destination(synthesized):
    (function,) = [
        f
        for f in synthesized.resources(BUILD, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "approval.handler.lambda_handler"
    ]
    props = function["Properties"]
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
    (invoke_config,) = synthesized.resources(BUILD, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    assert "OnFailure" in invoke_config["Properties"]["DestinationConfig"]


def test_approval_function_iam_is_scoped(synthesized):
    policies = synthesized.resources(BUILD, "AWS::IAM::Policy")
    (policy,) = [
        p for k, p in policies.items() if k.startswith("ApprovalFunctionServiceRoleDefaultPolicy")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    text = json.dumps(statements)
    # Manual policy: the function may read packages but not change their status.
    assert "sagemaker:UpdateModelPackage" not in text
    assert "model-package/tabular-classifier/*" in text
    # Only the pipeline's prefix of the artifact bucket, read-only.
    (s3,) = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    assert s3["Action"] == ["s3:GetBucket*", "s3:GetObject*", "s3:List*"]
    assert s3["Resource"] == [
        {"Fn::GetAtt": ["Artifacts80C0BB10", "Arn"]},
        {
            "Fn::Join": [
                "",
                [{"Fn::GetAtt": ["Artifacts80C0BB10", "Arn"]}, "/pipelines/tabular-classifier/*"],
            ]
        },
    ]
    assert "s3:PutObject" not in text
    # Only its own secret.
    (secret,) = [
        s for s in statements if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])
    ]
    assert "secret:mlops/github-token-??????" in json.dumps(secret["Resource"])


def test_pipeline_failures_go_to_the_encrypted_topic(synthesized):
    rule = rule_for(synthesized, "SageMaker Model Building Pipeline Execution Status Change")
    pattern = rule["Properties"]["EventPattern"]["detail"]
    assert pattern["currentPipelineExecutionStatus"] == ["Failed", "Stopped"]
    assert pattern["pipelineArn"] == [
        "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/tabular-classifier"
    ]
    (topic,) = synthesized.resources(BUILD, "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]


def test_retraining_schedule_starts_the_pipeline_with_parameters(synthesized):
    (schedule,) = synthesized.resources(BUILD, "AWS::Scheduler::Schedule").values()
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


def test_github_oidc_roles_are_limited_to_the_repository(synthesized):
    for stack, subjects in [
        (BUILD, ["repo:example-org/sagemaker-mlops:ref:refs/heads/main"]),
        ("mlops-staging", ["repo:example-org/sagemaker-mlops:environment:staging"]),
        ("mlops-prod", ["repo:example-org/sagemaker-mlops:environment:prod"]),
    ]:
        synthesized.only(stack, "AWS::IAM::OIDCProvider")
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
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "ForAnyValue:StringLike": {"token.actions.githubusercontent.com:sub": subjects},
        }
