"""Builders shared by the automation-construct tests (approval, schedule, notifications)."""

from __future__ import annotations

from typing import Any

from constructs_lib import placeholders
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.model_registry import ModelRegistry
from constructs_lib.sagemaker_pipeline import SageMakerPipeline

DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"}
    ],
    "Steps": [
        {
            "Name": "Fail",
            "Type": "Fail",
            "Arguments": {"ErrorMessage": f"role {placeholders.ROLE_ARN}"},
        }
    ],
}


def parts(stack: Any) -> tuple[ArtifactStore, ModelRegistry, SageMakerPipeline]:
    store = ArtifactStore(stack, "Store")
    registry = ModelRegistry(stack, "Registry", model_package_group_name="churn")
    pipeline = SageMakerPipeline(
        stack,
        "Pipeline",
        pipeline_name="churn",
        definition=DEFINITION,
        artifact_bucket=store.bucket,
    )
    return store, registry, pipeline
