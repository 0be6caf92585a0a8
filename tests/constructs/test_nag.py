"""cdk-nag acknowledgements made inside constructs hold wherever the referenced resource lives."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

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
    """Synthesize an app built by `build(app, env)` with AwsSolutions on; the report."""
    app = App(
        outdir=str(tmp_path), context={**cdk_context(), "@aws-cdk/core:validateTemplates": False}
    )
    build(app, Environment(account=ACCOUNT, region=REGION))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
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
