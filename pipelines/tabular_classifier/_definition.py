"""SageMaker SDK v3 code behind ``pipeline.build_pipeline`` (imports the SDK; private).

Kept apart so importing ``pipeline`` stays cheap and the environment is prepared before
the SDK is imported. The pipeline's shape and the choices that keep it offline and
reproducible are every package's (``pipelines._sdk.ScikitLearnPipeline``); what is
particular here: the gate is higher-is-better (``accuracy >= ModelQualityThreshold``
registers) and the training job captures the validation accuracy and AUC.
"""

from __future__ import annotations

from typing import Any

from sagemaker.core.shapes import MetricDefinition
from sagemaker.core.workflow.parameters import ParameterFloat
from sagemaker.mlops.workflow import Pipeline

from pipelines._sdk import ScikitLearnPipeline
from pipelines.tabular_classifier import pipeline as settings


def build(
    *, model_package_group_name: str, model_quality_threshold: float, **arguments: Any
) -> Pipeline:
    """See ``pipeline.build_pipeline`` (call it inside ``_offline.sdk_session``);
    ``arguments`` are the pipeline name, region, role, bucket, key, instance types,
    VPC and Clarify settings."""
    builder = ScikitLearnPipeline(
        settings,
        threshold=ParameterFloat(
            settings.MODEL_QUALITY_THRESHOLD, default_value=model_quality_threshold
        ),
        higher_is_better=True,
        metric_definitions=[
            MetricDefinition(name=f"validation:{m}", regex=f"validation:{m}=([0-9.]+);")
            for m in settings.VALIDATION_METRICS
        ],
        **arguments,
    )
    return builder.pipeline(model_package_group_name)
