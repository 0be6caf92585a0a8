"""The build stack as synthesized: definition, pipeline role, registry, artifact store."""

from __future__ import annotations

import json

from constructs_lib import placeholders
from tests.app.conftest import BUILD, render
from tests.support.definition_checks import (
    check_api_shapes,
    check_no_tokens,
    check_schema,
    require_schema,
)
from tests.support.staged_code import job_commands, missing_step_code, staged_objects

DEPLOY_ACCOUNTS = {"222222222222", "333333333333"}


def test_definition_is_inline_and_holds_no_token_or_placeholder(synthesized):
    pipeline = synthesized.only(BUILD, "AWS::SageMaker::Pipeline")
    raw = json.dumps(pipeline["Properties"]["PipelineDefinition"])
    assert check_no_tokens(raw) == []
    text = synthesized.definition_text()
    assert check_no_tokens(text) == []
    assert placeholders.any_left(text) == []
    assert "mlops-artifacts-111111111111-eu-west-1" in text
    # Step code is read from the artifact bucket, where it keeps its file names.
    assert "cdk-hnb659fds-assets" not in text
    assert "/pipelines/tabular-classifier/code/preprocess/" in text


def test_every_job_command_exists_in_the_staged_code(synthesized):
    """For every job step of every synthesized definition, the script a processing job
    runs and the program a training job names are in the code staged for it."""
    checked = []
    for name, template in synthesized.templates.items():
        objects = staged_objects(template, synthesized.outdir)
        for pipeline in synthesized.resources(name, "AWS::SageMaker::Pipeline").values():
            body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
            definition = json.loads(render(body, template))
            assert missing_step_code(definition, objects) == []
            checked += [(step, command) for step, command, _ in job_commands(definition, objects)]
    assert checked == [
        ("Preprocess", "/opt/ml/processing/input/code/preprocess.py"),
        ("Train", "train.py"),
        ("Evaluate", "/opt/ml/processing/input/code/evaluate.py"),
    ]


def test_definition_steps_match_sagemaker_api_shapes(synthesized):
    assert check_api_shapes(synthesized.definition()) == []


def test_definition_matches_public_schema(synthesized):
    schema = require_schema()
    assert check_schema(synthesized.definition(), schema) == []


def test_quality_gate_reads_the_metric_the_evaluate_script_writes(synthesized, local_pipeline_run):
    """The JsonGet path in the deployed definition resolves in a real evaluation.json."""
    steps = {s["Name"]: s for s in synthesized.definition()["Steps"]}
    gates = [s for s in steps.values() if s["Type"] == "Condition"]
    (gate,) = gates
    (condition,) = gate["Arguments"]["Conditions"]
    json_get = next(
        side["Std:JsonGet"]
        for side in (condition["LeftValue"], condition["RightValue"])
        if isinstance(side, dict) and "Std:JsonGet" in side
    )
    report = json.loads(local_pipeline_run.evaluation_json.read_text())
    value = report
    for key in json_get["Path"].split("."):
        value = value[key]
    assert isinstance(value, float)
    assert 0.5 < value <= 1.0
    # ... and the property file it names is the Evaluate step's evaluation.json.
    property_file = json_get["PropertyFile"]["Get"].split(".")
    evaluate = steps[property_file[1]]
    (declared,) = [
        f for f in evaluate["PropertyFiles"] if f["PropertyFileName"] == property_file[-1]
    ]
    assert declared["FilePath"] == "evaluation.json"


def test_pipeline_role_is_scoped(synthesized):
    policies = synthesized.resources(BUILD, "AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("PipelineRoleDefaultPolicy")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    text = json.dumps(statements)
    assert "processing-job/pipelines-*" in text
    assert "training-job/pipelines-*" in text
    assert "model-package/tabular-classifier/*" in text
    (passrole,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert passrole["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert passrole["Resource"]["Fn::GetAtt"][0].startswith("PipelineRole")
    roles = synthesized.resources(BUILD, "AWS::IAM::Role")
    assert all(
        "ManagedPolicyArns" not in r["Properties"] or "FullAccess" not in json.dumps(r)
        for r in roles.values()
    )


def test_registry_is_readable_from_deploy_accounts_only(synthesized):
    group = synthesized.only(BUILD, "AWS::SageMaker::ModelPackageGroup")
    statements = group["Properties"]["ModelPackageGroupPolicy"]["Statement"]
    readers = {"AWS": [f"arn:aws:iam::{a}:root" for a in sorted(DEPLOY_ACCOUNTS)]}
    assert [(s["Principal"], s["Action"], s["Resource"]) for s in statements] == [
        (
            readers,
            "sagemaker:DescribeModelPackageGroup",
            "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/tabular-classifier",
        ),
        (
            readers,
            [
                "sagemaker:CreateModel",
                "sagemaker:DescribeModelPackage",
                "sagemaker:ListModelPackages",
            ],
            "arn:aws:sagemaker:eu-west-1:111111111111:model-package/tabular-classifier/*",
        ),
    ]


def test_build_artifacts_readable_cross_account_under_pipeline_prefix(synthesized):
    policies = synthesized.resources(BUILD, "AWS::S3::BucketPolicy")
    text = json.dumps(policies)
    for account in DEPLOY_ACCOUNTS:
        assert f"arn:aws:iam::{account}:root" in text
    assert "pipelines/tabular-classifier/*" in text
    keys = json.dumps(synthesized.resources(BUILD, "AWS::KMS::Key"))
    for account in DEPLOY_ACCOUNTS:
        assert account in keys


def test_artifact_store_fixed_name_and_retained_in_build(synthesized):
    bucket = [
        b
        for b in synthesized.resources(BUILD, "AWS::S3::Bucket").values()
        if b["Properties"].get("BucketName") == "mlops-artifacts-111111111111-eu-west-1"
    ]
    assert len(bucket) == 1
    assert bucket[0]["DeletionPolicy"] == "Retain"


def test_approval_status_parameter_uses_the_api_spelling(synthesized):
    parameters = {p["Name"]: p for p in synthesized.definition()["Parameters"]}
    assert parameters["ModelApprovalStatus"]["DefaultValue"] == "PendingManualApproval"
    steps = [
        step
        for s in synthesized.definition()["Steps"]
        for step in [s, *s.get("Arguments", {}).get("IfSteps", [])]
        if step["Type"] == "RegisterModel"
    ]
    (register,) = steps
    assert register["Arguments"]["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert register["Arguments"]["ModelPackageGroupName"] == "tabular-classifier"
