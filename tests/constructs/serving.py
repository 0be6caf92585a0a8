"""Builders shared by the serving-construct tests."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.realtime_endpoint import (
    DataCapture,
    InstanceVariant,
    RealtimeEndpoint,
    ServerlessVariant,
)
from constructs_lib.registered_model import RegisteredModel

PACKAGE_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/7"


def build_bucket(stack: Any) -> s3.IBucket:
    """The build account's artifact bucket as a deploy stack sees it (one per stack)."""
    existing = stack.node.try_find_child("BuildBucket")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    return s3.Bucket.from_bucket_attributes(
        stack,
        "BuildBucket",
        bucket_name="mlops-artifacts-111111111111-eu-west-1",
        encryption_key=kms.Key.from_key_arn(
            stack, "BuildKey", "arn:aws:kms:eu-west-1:111111111111:key/*"
        ),
    )


def model(stack: Any, **kwargs: Any) -> RegisteredModel:
    kwargs.setdefault("model_package_arn", PACKAGE_ARN)
    return RegisteredModel(
        stack,
        "Model",
        artifact_bucket=build_bucket(stack),
        artifact_prefix="pipelines/churn/",
        **kwargs,
    )


def endpoint(
    stack: Any, *, model_props: dict[str, Any] | None = None, **kwargs: Any
) -> RealtimeEndpoint:
    """An instance endpoint with data capture and a volume key unless `kwargs` say otherwise."""
    store = ArtifactStore(stack, "Store")
    kwargs.setdefault("variant", InstanceVariant(instance_type="ml.m5.large"))
    kwargs.setdefault(
        "data_capture",
        DataCapture(bucket=store.bucket, prefix="datacapture/churn/", kms_key=store.key),
    )
    kwargs.setdefault("kms_key", store.key)
    kwargs.setdefault("endpoint_name", "churn-test")
    kwargs.setdefault("model", model(stack, **(model_props or {})))
    return RealtimeEndpoint(stack, "Endpoint", **kwargs)


def serverless_endpoint(stack: Any, **kwargs: Any) -> RealtimeEndpoint:
    """A serverless endpoint: no data capture, a model without network isolation."""
    kwargs.setdefault("variant", ServerlessVariant(memory_size_in_mb=2048))
    kwargs.setdefault("data_capture", None)
    return endpoint(stack, model_props={"network_isolation": False}, **kwargs)
