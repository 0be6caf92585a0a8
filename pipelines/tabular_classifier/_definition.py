"""SageMaker SDK v3 code behind ``pipeline.build_pipeline`` (imports the SDK; private).

Kept apart so importing ``pipeline`` stays cheap and the environment is prepared before
the SDK is imported. Choices that keep the definition offline and reproducible:

* the session has a fixed bucket, inert static credentials (nothing can reach a real
  account), a region, and an SDK config dict with telemetry off, so no SDK config file
  on the machine changes the definition;
* step code is given as ``placeholders.step_source`` S3 URIs, so the SDK uploads nothing;
* processing scripts run by their own path (``python3 <code dir>/preprocess.py``):
  ``SageMakerPipeline`` stages each step source under its own file name;
* training uses the scikit-learn container's script mode (``sagemaker_program`` /
  ``sagemaker_submit_directory`` hyperparameters) rather than ``ModelTrainer``'s
  ``source_code``, which uploads the SDK's driver scripts to S3;
* the model is registered with ``ModelBuilder.register`` with ``dependencies={}``, which
  otherwise triggers a code upload (and an S3 call for the default bucket);
* step properties, not rebuilt paths, name what a later step reads, so a cached step's
  outputs (from an earlier execution) are what its successors get.
"""

from __future__ import annotations

import logging

import boto3
from sagemaker.core import image_uris
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.model_metrics import ModelMetrics
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import (
    MetricDefinition,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Output,
)
from sagemaker.core.training.configs import (
    Compute,
    InputData,
    OutputDataConfig,
    StoppingCondition,
)
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow import (
    CacheConfig,
    ConditionStep,
    FailStep,
    ModelStep,
    Pipeline,
    ProcessingStep,
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
    TrainingStep,
)
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

from constructs_lib import placeholders
from pipelines._sdk import ANALYZER_ENVIRONMENT as _ANALYZER_ENVIRONMENT
from pipelines._sdk import ANALYZER_INPUT as _ANALYZER_INPUT
from pipelines._sdk import ANALYZER_OUTPUT as _ANALYZER_OUTPUT
from pipelines._sdk import SDK_CONFIG as _SDK_CONFIG
from pipelines._sdk import OfflinePipeline
from pipelines._sdk import json_source as _json_source
from pipelines._sdk import processing_input as _input
from pipelines.tabular_classifier import pipeline as settings

_PROCESSING = "/opt/ml/processing"
_CODE_DIR = f"{_PROCESSING}/input/code"
_MAX_RUNTIME_SECONDS = 3600


def build(
    *,
    pipeline_name: str,
    model_package_group_name: str,
    region: str,
    role_arn: str,
    bucket: str,
    kms_key_arn: str,
    processing_instance_type: str,
    training_instance_type: str,
    model_quality_threshold: float,
) -> Pipeline:
    """See ``pipeline.build_pipeline`` (call it inside ``_offline.sdk_session``)."""
    builder = _Builder(
        pipeline_name=pipeline_name,
        region=region,
        role_arn=role_arn,
        bucket=bucket,
        kms_key_arn=kms_key_arn,
        processing_instance_type=processing_instance_type,
        training_instance_type=training_instance_type,
        model_quality_threshold=model_quality_threshold,
    )
    return builder.pipeline(model_package_group_name)


class _Builder:
    """Holds what every step shares: session, parameters, images, S3 prefix, policies."""

    def __init__(
        self,
        *,
        pipeline_name: str,
        region: str,
        role_arn: str,
        bucket: str,
        kms_key_arn: str,
        processing_instance_type: str,
        training_instance_type: str,
        model_quality_threshold: float,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.region = region
        self.role_arn = role_arn
        self.kms_key_arn = kms_key_arn
        self.prefix = f"s3://{bucket}/pipelines/{pipeline_name}"
        self.session = PipelineSession(
            boto_session=boto3.Session(
                region_name=region,
                # Inert: the definition needs no AWS call, and none can reach an account.
                aws_access_key_id="OFFLINE",
                aws_secret_access_key="offline-pipeline-definition",  # noqa: S106
            ),
            default_bucket=bucket,
            sagemaker_config=_SDK_CONFIG,
        )
        self.sklearn_image = image_uris.retrieve(
            framework="sklearn",
            region=region,
            version=settings.SKLEARN_FRAMEWORK_VERSION,
            py_version="py3",
            instance_type=settings.DEFAULT_INSTANCE_TYPE,
            image_scope="training",
        )
        self.serving_image = image_uris.retrieve(
            framework="sklearn",
            region=region,
            version=settings.SKLEARN_FRAMEWORK_VERSION,
            py_version="py3",
            instance_type=settings.DEFAULT_INSTANCE_TYPE,
            image_scope="inference",
        )
        self.analyzer_image = image_uris.retrieve(framework="model-monitor", region=region)

        self.input_data_uri = ParameterString(
            settings.INPUT_DATA_URI, default_value=f"s3://{bucket}/{settings.DATA_PREFIX}"
        )
        self.processing_instance_type = ParameterString(
            settings.PROCESSING_INSTANCE_TYPE, default_value=processing_instance_type
        )
        self.training_instance_type = ParameterString(
            settings.TRAINING_INSTANCE_TYPE, default_value=training_instance_type
        )
        self.quality_threshold = ParameterFloat(
            settings.MODEL_QUALITY_THRESHOLD, default_value=model_quality_threshold
        )
        self.approval_status = ParameterString(
            settings.MODEL_APPROVAL_STATUS, default_value=settings.DEFAULT_APPROVAL_STATUS
        )

        self.cache = CacheConfig(enable_caching=True, expire_after=settings.CACHE_EXPIRE_AFTER)
        self.step_retry = StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.SERVICE_FAULT, StepExceptionTypeEnum.THROTTLING],
            interval_seconds=10,
            backoff_rate=2.0,
            max_attempts=5,
        )
        self.job_retry = SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
            ],
            interval_seconds=60,
            backoff_rate=2.0,
            max_attempts=5,
        )

    # -- the pipeline ------------------------------------------------------------------

    def pipeline(self, model_package_group_name: str) -> Pipeline:
        preprocess = self.preprocess_step()
        train = self.train_step(preprocess)
        evaluation_report = PropertyFile(
            name="EvaluationReport", output_name="evaluation", path=settings.EVALUATION_REPORT
        )
        evaluate = self.evaluate_step(preprocess, train, evaluation_report)
        baseline = self.baseline_step(preprocess)
        register = self.register_step(model_package_group_name, train, evaluate, baseline)

        metric = JsonGet(
            step_name=evaluate.name,
            property_file=evaluation_report,
            json_path=settings.QUALITY_METRIC_PATH,
        )
        failed = FailStep(
            name=settings.QUALITY_FAILED,
            error_message=Join(
                on=" ",
                values=[
                    f"Model quality too low: {settings.QUALITY_METRIC_PATH} =",
                    metric,
                    f"is below {settings.MODEL_QUALITY_THRESHOLD} =",
                    self.quality_threshold,
                ],
            ),
        )
        gate = ConditionStep(
            name=settings.QUALITY_GATE,
            conditions=[ConditionGreaterThanOrEqualTo(left=metric, right=self.quality_threshold)],
            if_steps=[register],
            else_steps=[failed],
            # Registration reads the baseline's outputs: decide once both are there.
            depends_on=[baseline],
        )
        return OfflinePipeline(
            name=self.pipeline_name,
            parameters=[
                self.input_data_uri,
                self.processing_instance_type,
                self.training_instance_type,
                self.quality_threshold,
                self.approval_status,
            ],
            steps=[preprocess, train, evaluate, baseline, gate],
            sagemaker_session=self.session,
            # No per-execution Experiments trial (extra IAM, region-dependent default).
            pipeline_experiment_config=None,
        )

    # -- steps -------------------------------------------------------------------------

    def preprocess_step(self) -> ProcessingStep:
        step_args = self.script_processor("preprocess").run(
            inputs=[
                self.code_input("preprocess"),
                _input("data", self.input_data_uri, f"{_PROCESSING}/input/data"),
            ],
            outputs=[
                self.output(settings.PREPROCESS, name, f"{_PROCESSING}/output/{name}")
                for name in ("train", "validation", "test", "baseline")
            ],
            arguments=list(settings.PREPROCESS_ARGUMENTS),
        )
        return ProcessingStep(
            name=settings.PREPROCESS,
            step_args=step_args,
            cache_config=self.cache,
            retry_policies=[self.step_retry, self.job_retry],
        )

    def train_step(self, preprocess: ProcessingStep) -> TrainingStep:
        hyperparameters = {
            **settings.TRAIN_HYPERPARAMETERS,
            # Script mode of the scikit-learn container's training toolkit.
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": placeholders.step_source("train"),
            "sagemaker_region": self.region,
            "sagemaker_container_log_level": logging.INFO,
        }
        trainer = ModelTrainer(
            sagemaker_session=self.session,
            role=self.role_arn,
            base_job_name=settings.TRAIN.lower(),
            training_image=self.sklearn_image,
            compute=Compute(
                instance_type=self.training_instance_type,
                instance_count=1,
                volume_size_in_gb=30,
                volume_kms_key_id=self.kms_key_arn,
            ),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=_MAX_RUNTIME_SECONDS),
            output_data_config=OutputDataConfig(
                s3_output_path=f"{self.prefix}/training", kms_key_id=self.kms_key_arn
            ),
            hyperparameters=hyperparameters,
        ).with_metric_definitions(
            [
                MetricDefinition(name=f"validation:{m}", regex=f"validation:{m}=([0-9.]+);")
                for m in ("accuracy", "auc")
            ]
        )
        outputs = preprocess.properties.ProcessingOutputConfig.Outputs
        step_args = trainer.train(
            input_data_config=[
                InputData(
                    channel_name=channel,
                    data_source=outputs[channel].S3Output.S3Uri,
                    content_type="text/csv",
                )
                for channel in ("train", "validation")
            ]
        )
        return TrainingStep(
            name=settings.TRAIN,
            step_args=step_args,
            cache_config=self.cache,
            retry_policies=[self.step_retry, self.job_retry],
        )

    def evaluate_step(
        self, preprocess: ProcessingStep, train: TrainingStep, report: PropertyFile
    ) -> ProcessingStep:
        splits = preprocess.properties.ProcessingOutputConfig.Outputs
        step_args = self.script_processor("evaluate").run(
            inputs=[
                self.code_input("evaluate"),
                _input(
                    "model",
                    train.properties.ModelArtifacts.S3ModelArtifacts,
                    f"{_PROCESSING}/input/model",
                ),
                _input("test", splits["test"].S3Output.S3Uri, f"{_PROCESSING}/input/test"),
            ],
            outputs=[
                self.output(settings.EVALUATE, "evaluation", f"{_PROCESSING}/output/evaluation")
            ],
            arguments=list(settings.EVALUATE_ARGUMENTS),
        )
        return ProcessingStep(
            name=settings.EVALUATE,
            step_args=step_args,
            property_files=[report],
            cache_config=self.cache,
            retry_policies=[self.step_retry, self.job_retry],
        )

    def baseline_step(self, preprocess: ProcessingStep) -> ProcessingStep:
        analyzer = Processor(
            role=self.role_arn,
            image_uri=self.analyzer_image,
            instance_count=1,
            instance_type=self.processing_instance_type,
            volume_kms_key=self.kms_key_arn,
            output_kms_key=self.kms_key_arn,
            max_runtime_in_seconds=_MAX_RUNTIME_SECONDS,
            env=dict(_ANALYZER_ENVIRONMENT),
            sagemaker_session=self.session,
        )
        dataset = preprocess.properties.ProcessingOutputConfig.Outputs["baseline"]
        step_args = analyzer.run(
            inputs=[_input("baseline_dataset_input", dataset.S3Output.S3Uri, _ANALYZER_INPUT)],
            outputs=[self.output(settings.DATA_QUALITY_BASELINE, "baseline", _ANALYZER_OUTPUT)],
        )
        return ProcessingStep(
            name=settings.DATA_QUALITY_BASELINE,
            step_args=step_args,
            cache_config=self.cache,
            retry_policies=[self.step_retry, self.job_retry],
        )

    def register_step(
        self,
        group_name: str,
        train: TrainingStep,
        evaluate: ProcessingStep,
        baseline: ProcessingStep,
    ) -> ModelStep:
        baseline_dir = baseline.properties.ProcessingOutputConfig.Outputs["baseline"].S3Output.S3Uri
        evaluation_dir = evaluate.properties.ProcessingOutputConfig.Outputs[
            "evaluation"
        ].S3Output.S3Uri
        statistics = _json_source(baseline_dir, "statistics.json")
        constraints = _json_source(baseline_dir, "constraints.json")
        builder = ModelBuilder(
            sagemaker_session=self.session,
            role_arn=self.role_arn,
            image_uri=self.serving_image,
            s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
            # inference.py travels inside model.tar.gz (train.py puts it there).
            env_vars={
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": settings.SERVING_CODE_DIR,
                "SAGEMAKER_REGION": self.region,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": str(logging.INFO),
            },
            instance_type=settings.INFERENCE_INSTANCE_TYPES[0],
            dependencies={},
        )
        step_args = builder.register(
            model_package_group_name=group_name,
            content_types=list(settings.CONTENT_TYPES),
            response_types=list(settings.RESPONSE_TYPES),
            inference_instances=list(settings.INFERENCE_INSTANCE_TYPES),
            transform_instances=list(settings.TRANSFORM_INSTANCE_TYPES),
            approval_status=self.approval_status,
            model_metrics=ModelMetrics(
                model_statistics=_json_source(evaluation_dir, settings.EVALUATION_REPORT),
                model_data_statistics=statistics,
                model_data_constraints=constraints,
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=statistics, model_data_constraints=constraints
            ),
        )
        return ModelStep(
            name=settings.REGISTER_MODEL, step_args=step_args, retry_policies=[self.step_retry]
        )

    # -- shared pieces -----------------------------------------------------------------

    def script_processor(self, source: str) -> Processor:
        """A scikit-learn container job that runs step source ``source``'s script from
        its ``code`` input (``code_input(source)``)."""
        return Processor(
            role=self.role_arn,
            image_uri=self.sklearn_image,
            instance_count=1,
            instance_type=self.processing_instance_type,
            entrypoint=["python3", f"{_CODE_DIR}/{settings.SCRIPT_SOURCES[source]}"],
            volume_kms_key=self.kms_key_arn,
            output_kms_key=self.kms_key_arn,
            max_runtime_in_seconds=_MAX_RUNTIME_SECONDS,
            sagemaker_session=self.session,
        )

    def code_input(self, source: str) -> ProcessingInput:
        return _input("code", placeholders.step_source(source), _CODE_DIR)

    def output(self, step: str, name: str, local_path: str) -> ProcessingOutput:
        """An output under this execution's own prefix (executions never overwrite)."""
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(
                s3_uri=Join(
                    on="/",
                    values=[self.prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, step, name],
                ),
                local_path=local_path,
                s3_upload_mode="EndOfJob",
            ),
        )
