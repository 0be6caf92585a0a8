"""cdk-nag acknowledgements made inside constructs hold wherever the referenced resource lives."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks

from constructs_lib import (
    ArtifactStore,
    DataCapture,
    DataQualityMonitor,
    InstanceVariant,
    ModelRegistry,
    RealtimeEndpoint,
    RegisteredModel,
)
from constructs_lib._nag import spell
from tests.conftest import ACCOUNT, REGION, cdk_context

PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/7"


def synth_with_nag(tmp_path, build) -> dict:  # type: ignore[no-untyped-def]
    """Synthesize an app built by `build(app, env)` with the app's four cdk-nag packs on;
    the report."""
    app = App(
        outdir=str(tmp_path), context={**cdk_context(), "@aws-cdk/core:validateTemplates": False}
    )
    build(app, Environment(account=ACCOUNT, region=REGION))
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app),
        NIST80053R5Checks(app),
        HIPAASecurityChecks(app),
        ServerlessChecks(app),
    )
    app.synth()  # raises on any unacknowledged finding
    return json.loads((tmp_path / "validation-report.json").read_text())


def model(stack: Stack, bucket: s3.IBucket) -> RegisteredModel:
    return RegisteredModel(
        stack,
        "Model",
        model_package_arn=PACKAGE,
        artifact_bucket=bucket,
        artifact_prefix="pipelines/churn/",
    )


@pytest.mark.parametrize("policy", [RemovalPolicy.RETAIN, RemovalPolicy.DESTROY])
def test_artifact_store_is_clean_under_every_pack(tmp_path, policy):
    """DESTROY adds CDK's auto-delete custom resource (its own provider function)."""

    def build(app, env):  # type: ignore[no-untyped-def]
        ArtifactStore(Stack(app, "Store", env=env), "Store", removal_policy=policy)

    report = synth_with_nag(tmp_path, build)  # raises on any unacknowledged finding
    acknowledged = {
        (v["ruleName"], c["constructPath"])
        for plugin in report["pluginReports"]
        for v in plugin.get("suppressedViolations", [])
        for c in v["violatingConstructs"]
    }
    assert acknowledged == {
        (f"{pack}-{rule}", f"Store/Store/{bucket}/Resource")
        for pack in ("NIST.800.53.R5", "HIPAA.Security")
        for rule, bucket in (
            ("S3BucketReplicationEnabled", "AccessLogs"),
            ("S3BucketReplicationEnabled", "Resource"),
            ("S3DefaultEncryptionKMS", "AccessLogs"),
        )
    }


def test_bucket_in_the_same_stack(tmp_path):
    def build(app, env):  # type: ignore[no-untyped-def]
        stack = Stack(app, "One", env=env)
        model(stack, ArtifactStore(stack, "Store").bucket)

    synth_with_nag(tmp_path, build)


def test_bucket_in_another_stack(tmp_path):
    """The grant names the bucket through a cross-stack reference, which CDK only turns
    into an import at synth: the acknowledgement is spelled after that."""

    def build(app, env):  # type: ignore[no-untyped-def]
        store = ArtifactStore(Stack(app, "Build", env=env), "Store")
        model(Stack(app, "Serve", env=env), store.bucket)

    synth_with_nag(tmp_path, build)
    template = (tmp_path / "Serve.template.json").read_text()
    assert "Fn::GetStackOutput" in template  # the recommended flags read outputs this way


def test_bucket_imported_by_name_with_a_foreign_key(tmp_path):
    def build(app, env):  # type: ignore[no-untyped-def]
        stack = Stack(app, "Serve", env=env)
        bucket = s3.Bucket.from_bucket_attributes(
            stack,
            "Build",
            bucket_name="mlops-artifacts-111111111111-eu-west-1",
            encryption_key=kms.Key.from_key_arn(
                stack, "Key", "arn:aws:kms:eu-west-1:999999999999:key/*"
            ),
        )
        model(stack, bucket)

    synth_with_nag(tmp_path, build)


def serve(stack: Stack, build_bucket: s3.IBucket) -> None:
    """Everything a deploy stack builds on the build account's bucket: a model, an
    endpoint that captures data, a data-quality monitor and a registry read grant."""
    store = ArtifactStore(stack, "Store")
    served = model(stack, build_bucket)
    endpoint = RealtimeEndpoint(
        stack,
        "Endpoint",
        endpoint_name="churn",
        model=served,
        variant=InstanceVariant(instance_type="ml.m5.large"),
        data_capture=DataCapture(bucket=store.bucket, prefix="capture/", kms_key=store.key),
        kms_key=store.key,
    )
    DataQualityMonitor(
        stack,
        "Monitor",
        endpoint=endpoint,
        model_package_arn=PACKAGE,
        baseline_bucket=build_bucket,
        baseline_prefix="pipelines/churn/",
        output_bucket=store.bucket,
        output_prefix="monitoring/",
        kms_key=store.key,
    )
    registry = ModelRegistry.from_model_package_group_name(stack, "Group", "churn")
    registry.grant_read(served.role)


def test_serving_on_a_bucket_from_another_stack(tmp_path):
    """The issue's leak: RegisteredModel and DataQualityMonitor roles reading a build
    bucket passed from another stack."""

    def build(app, env):  # type: ignore[no-untyped-def]
        store = ArtifactStore(Stack(app, "Build", env=env), "Store")
        serve(Stack(app, "Serve", env=env), store.bucket)

    synth_with_nag(tmp_path, build)


def test_serving_on_a_bucket_imported_by_name(tmp_path):
    def build(app, env):  # type: ignore[no-untyped-def]
        stack = Stack(app, "Serve", env=env)
        serve(stack, s3.Bucket.from_bucket_name(stack, "Build", "mlops-artifacts-1"))

    synth_with_nag(tmp_path, build)


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("arn:${AWS::Partition}:s3:::b", "arn:<AWS::Partition>:s3:::b"),
        ({"Ref": "AWS::Partition"}, "<AWS::Partition>"),
        ({"Fn::GetAtt": ["Bucket", "Arn"]}, "<Bucket.Arn>"),
        ({"Fn::Join": ["", [{"Fn::GetAtt": ["B", "Arn"]}, "/x/*"]]}, "<B.Arn>/x/*"),
        ({"Fn::ImportValue": "Build:ExportsOutputRefB"}, "Build:ExportsOutputRefB"),
        ({"Fn::Sub": "arn:${AWS::Partition}:x"}, "arn:<AWS::Partition>:x"),
        ({"Fn::GetStackOutput": {"StackName": "A"}}, '{"Fn::GetStackOutput":{"StackName":"A"}}'),
    ],
)
def test_spelling_follows_cdk_nag(value, spelled):
    """The same flattening as cdk-nag's `flattenCfnReference`, fallback included."""
    assert spell(value) == spelled


# -- what the compliance packs asked for, fixed rather than acknowledged ---------------


def approval_stack() -> Stack:
    from aws_cdk import aws_sns as sns

    from constructs_lib import MetricThreshold
    from constructs_lib.model_approval import ModelApproval
    from tests.constructs.automation import parts

    stack = Stack(
        App(context=cdk_context()), "Build", env=Environment(account=ACCOUNT, region=REGION)
    )
    store, registry, _ = parts(stack)
    ModelApproval(
        stack,
        "Approval",
        registry=registry,
        artifacts=store,
        evaluation_prefix="pipelines/churn/",
        topic=sns.Topic(stack, "Topic", master_key=store.key),
        key=store.key,
        thresholds=[MetricThreshold(metric="accuracy", minimum=0.9)],
        primary_metric="accuracy",
    )
    return stack


def test_approval_function_is_traced_sized_current_and_dead_lettered():
    from aws_cdk.assertions import Template

    template = Template.from_stack(approval_stack())
    (function,) = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "approval.handler.lambda_handler"
    ]
    assert (function["Runtime"], function["MemorySize"]) == ("python3.14", 256)
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert "AWSLambdaPowertoolsPythonV3-python314-x86_64:" in json.dumps(function["Layers"])
    queue, _ = function["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"]
    assert queue.startswith("ApprovalDeadLetterQueue")
    # One copy per failed event: no on-failure destination beside the dead-letter queue.
    (invoke_config,) = template.find_resources("AWS::Lambda::EventInvokeConfig").values()
    assert "DestinationConfig" not in invoke_config["Properties"]
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for k, p in template.find_resources("AWS::IAM::Policy").items()
        if k.startswith("ApprovalFunctionServiceRole")
    ]
    traced = [
        s
        for s in policy["Statement"]
        if {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= set(s["Action"])
    ]
    assert [s["Resource"] for s in traced] == ["*"]  # X-Ray has no resource-level permissions


def test_log_groups_use_a_key_logs_may_use_only_for_this_accounts_log_groups():
    from aws_cdk.assertions import Template

    stack = approval_stack()
    template = Template.from_stack(stack)
    (group,) = template.find_resources("AWS::Logs::LogGroup").values()
    key_id = group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    assert key_id.startswith("LogsKey")
    key = template.find_resources("AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    for_logs = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s["Principal"].get("Service") == f"logs.{REGION}.amazonaws.com"
    ]
    assert for_logs, "CloudWatch Logs may not use the key"
    for statement in for_logs:
        assert statement["Condition"] == {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"
            }
        }


def test_an_inline_policy_is_acknowledged_only_while_it_has_one_role(tmp_path):
    """The IAMNoInlinePolicy reason says "attached to that role only": a policy that gets
    a second role loses its acknowledgement and stops synth."""
    from aws_cdk import aws_iam as iam

    from constructs_lib._nag import acknowledge_inline_policy

    def build(app, env):  # type: ignore[no-untyped-def]
        stack = Stack(app, "Roles", env=env)
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeModel"],
                resources=["arn:aws:sagemaker:eu-west-1:111111111111:model/m"],
            )
        )
        acknowledge_inline_policy(role, "a test role")
        if app.node.try_get_context("second_role"):
            other = iam.Role(
                stack, "Other", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")
            )
            role.node.find_child("DefaultPolicy").attach_to_role(other)

    synth_with_nag(tmp_path / "one", build)

    def with_second_role(app, env):  # type: ignore[no-untyped-def]
        app.node.set_context("second_role", True)
        build(app, env)

    with pytest.raises(Exception, match="ValidationFailed"):
        synth_with_nag(tmp_path / "two", with_second_role)
    report = json.loads((tmp_path / "two" / "validation-report.json").read_text())
    assert {
        (v["ruleName"], c["constructPath"])
        for p in report["pluginReports"]
        for v in p["violations"]
        for c in v["violatingConstructs"]
    } == {
        (f"{pack}-IAMNoInlinePolicy", "Roles/Role/DefaultPolicy/Resource")
        for pack in ("NIST.800.53.R5", "HIPAA.Security")
    }
