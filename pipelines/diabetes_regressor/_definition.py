"""SageMaker SDK v3 code behind ``pipeline.build_pipeline`` (imports the SDK; private).

Kept apart so importing ``pipeline`` stays cheap and the environment is prepared before
the SDK is imported. The pipeline's shape and the choices that keep it offline and
reproducible are every package's (``pipelines._sdk.ScikitLearnPipeline``); what is
particular here: the gate is lower-is-better (``rmse <= MaxRmse`` registers, anything
else fails) and the training job captures the validation rmse, mae and r2.
"""

from __future__ import annotations

from typing import Any

from sagemaker.core.shapes import MetricDefinition
from sagemaker.core.workflow.parameters import ParameterFloat
from sagemaker.mlops.workflow import Pipeline

from pipelines._sdk import ScikitLearnPipeline
from pipelines.diabetes_regressor import pipeline as settings


def build(*, model_package_group_name: str, max_rmse: float, **arguments: Any) -> Pipeline:
    """See ``pipeline.build_pipeline`` (call it inside ``_offline.sdk_session``);
    ``arguments`` are the pipeline name, region, role, bucket, key, instance types,
    VPC and Clarify settings."""
    builder = ScikitLearnPipeline(
        settings,
        # Lower is better: register when the error is at most the allowed maximum.
        threshold=ParameterFloat(settings.MAX_RMSE, default_value=max_rmse),
        higher_is_better=False,
        metric_definitions=[
            # r2 may be negative.
            MetricDefinition(name=f"validation:{m}", regex=f"validation:{m}=(-?[0-9.]+);")
            for m in settings.VALIDATION_METRICS
        ],
        **arguments,
    )
    return builder.pipeline(model_package_group_name)
