"""SageMaker SDK v3 pieces every pipeline package builds its definition from (imports the SDK).

Import it only inside ``_offline.sdk_session`` after ``_offline.prepare_sdk_environment``
(the packages' ``_definition`` modules do). Choices that keep a definition offline and
reproducible, whatever the pipeline:

* the session has a fixed bucket, inert static credentials (nothing can reach a real
  account), a region, and an SDK config dict with telemetry off, so no SDK config file
  on the machine changes the definition (``offline_session``);
* ``definition()`` runs inside ``sdk_session`` too (``OfflinePipeline``);
* every job step caches and retries the same way (``cache_config``, ``retry_policies``);
* outputs go under the execution's own prefix (``execution_output``), and a later step
  names what it reads by step properties, so a cached step's outputs are what its
  successors get.
"""

from __future__ import annotations

from typing import Any

import boto3
from sagemaker.core.model_metrics import MetricsSource
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow import (
    CacheConfig,
    Pipeline,
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)

from pipelines._offline import sdk_session

PROCESSING = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING}/input/code"
"""Where a processing job finds its step source (run as ``python3 <CODE_DIR>/<file>``)."""

# Model Monitor analyzer settings for a data-quality baseline (the environment the SDK's
# DefaultModelMonitor.suggest_baseline gives the same container).
ANALYZER_INPUT = f"{PROCESSING}/input/baseline_dataset_input"
ANALYZER_OUTPUT = f"{PROCESSING}/output"
ANALYZER_ENVIRONMENT = {
    "dataset_format": '{"csv": {"header": true, "output_columns_position": "START"}}',
    "dataset_source": ANALYZER_INPUT,
    "output_path": ANALYZER_OUTPUT,
    "publish_cloudwatch_metrics": "Disabled",
}

SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
_JSON = "application/json"


class OfflinePipeline(Pipeline):  # type: ignore[misc]  # the SDK is untyped
    """An SDK ``Pipeline`` whose ``definition()`` runs inside ``_offline.sdk_session``.

    The SDK does most of its work in ``definition()`` (it re-runs each job's request
    builder), so that is where credentials look-ups and log noise are kept out too.
    Its session has inert credentials: use it for the definition, not ``upsert()``.
    """

    def definition(self) -> str:
        with sdk_session():
            text: str = super().definition()
        return text


def offline_session(region: str, bucket: str) -> PipelineSession:
    """A pipeline session that cannot reach an account and reads no SDK config file."""
    return PipelineSession(
        boto_session=boto3.Session(
            region_name=region,
            # Inert: the definition needs no AWS call, and none can reach an account.
            aws_access_key_id="OFFLINE",
            aws_secret_access_key="offline-pipeline-definition",  # noqa: S106
        ),
        default_bucket=bucket,
        sagemaker_config=SDK_CONFIG,
    )


def cache_config(expire_after: str) -> CacheConfig:
    """Step caching for job steps (an ISO 8601 duration such as ``P30D``)."""
    return CacheConfig(enable_caching=True, expire_after=expire_after)


def step_retry_policy() -> StepRetryPolicy:
    """Retry a step the service failed or throttled (10 s, doubling, 5 attempts)."""
    return StepRetryPolicy(
        exception_types=[StepExceptionTypeEnum.SERVICE_FAULT, StepExceptionTypeEnum.THROTTLING],
        interval_seconds=10,
        backoff_rate=2.0,
        max_attempts=5,
    )


def job_retry_policy() -> SageMakerJobStepRetryPolicy:
    """Retry a job that found no capacity or hit a quota (60 s, doubling, 5 attempts)."""
    return SageMakerJobStepRetryPolicy(
        exception_types=[
            SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
            SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
        ],
        interval_seconds=60,
        backoff_rate=2.0,
        max_attempts=5,
    )


def processing_input(name: str, s3_uri: Any, local_path: str) -> ProcessingInput:
    """An S3 prefix copied to ``local_path`` before the job starts."""
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=s3_uri,
            local_path=local_path,
            s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type="FullyReplicated",
        ),
    )


def execution_output(prefix: str, step: str, name: str, local_path: str) -> ProcessingOutput:
    """An output at ``<prefix>/<execution id>/<step>/<name>`` (executions never overwrite)."""
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=Join(
                on="/", values=[prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, step, name]
            ),
            local_path=local_path,
            s3_upload_mode="EndOfJob",
        ),
    )


def json_source(directory: Any, file_name: str) -> MetricsSource:
    """A JSON file in the S3 ``directory`` a step property resolves to."""
    return MetricsSource(s3_uri=Join(on="/", values=[directory, file_name]), content_type=_JSON)
