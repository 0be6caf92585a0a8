"""SageMaker SDK v3 code behind ``pipeline.build_pipeline`` (imports the SDK; private).

Kept apart so importing ``pipeline`` stays cheap and the environment is prepared before
the SDK is imported. The offline pieces are shared with every pipeline package
(``pipelines._sdk``); what is particular here:

* processing scripts run by their own path (``python3 <code dir>/preprocess.py``):
  ``SageMakerPipeline`` stages each step source under its own file name;
* training uses the scikit-learn container's script mode (``sagemaker_program`` /
  ``sagemaker_submit_directory`` hyperparameters) rather than ``ModelTrainer``'s
  ``source_code``, which uploads the SDK's driver scripts to S3;
* the model is registered with ``ModelBuilder.register`` with ``dependencies={}``, which
  otherwise triggers a code upload (and an S3 call for the default bucket);
* the gate is lower-is-better: ``rmse <= MaxRmse`` registers, anything else fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sagemaker.core import image_uris
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.model_metrics import ModelMetrics
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import MetricDefinition, ProcessingInput, ProcessingOutput
from sagemaker.core.training.configs import (
    Compute,
    InputData,
    OutputDataConfig,
    StoppingCondition,
)
from sagemaker.core.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow import (
    ConditionStep,
    FailStep,
    ModelStep,
    Pipeline,
    ProcessingStep,
    TrainingStep,
)
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

from constructs_lib import placeholders
from pipelines._sdk import (
    ANALYZER_ENVIRONMENT,
    ANALYZER_INPUT,
    ANALYZER_OUTPUT,
    CODE_DIR,
    PROCESSING,
    OfflinePipeline,
    cache_config,
    execution_output,
    job_retry_policy,
    json_source,
    offline_session,
    processing_input,
    step_retry_policy,
)
from pipelines.diabetes_regressor import pipeline as settings

_MAX_RUNTIME_SECONDS = 3600
_Step = TypeVar("_Step")


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
    max_rmse: float,
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
        max_rmse=max_rmse,
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
        max_rmse: float,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.region = region
        self.role_arn = role_arn
        self.kms_key_arn = kms_key_arn
        self.prefix = f"s3://{bucket}/pipelines/{pipeline_name}"
        self.session = offline_session(region, bucket)
        self.sklearn_image, self.serving_image = (
            image_uris.retrieve(
                framework="sklearn",
                region=region,
                version=settings.SKLEARN_FRAMEWORK_VERSION,
                py_version="py3",
                instance_type=settings.DEFAULT_INSTANCE_TYPE,
                image_scope=scope,
            )
            for scope in ("training", "inference")
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
        self.max_rmse = ParameterFloat(settings.MAX_RMSE, default_value=max_rmse)
        self.approval_status = ParameterString(
            settings.MODEL_APPROVAL_STATUS, default_value=settings.DEFAULT_APPROVAL_STATUS
        )
        self.cache = cache_config(settings.CACHE_EXPIRE_AFTER)
        self.step_retry = step_retry_policy()
        self.job_retry = job_retry_policy()

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

        rmse = JsonGet(
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
                    rmse,
                    f"is above {settings.MAX_RMSE} =",
                    self.max_rmse,
                ],
            ),
        )
        gate = ConditionStep(
            name=settings.QUALITY_GATE,
            # Lower is better: register when the error is at most the allowed maximum.
            conditions=[ConditionLessThanOrEqualTo(left=rmse, right=self.max_rmse)],
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
                self.max_rmse,
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
                processing_input("data", self.input_data_uri, f"{PROCESSING}/input/data"),
            ],
            outputs=[
                self.output(settings.PREPROCESS, name, f"{PROCESSING}/output/{name}")
                for name in ("train", "validation", "test", "baseline")
            ],
            arguments=list(settings.PREPROCESS_ARGUMENTS),
        )
        return self.job_step(ProcessingStep, settings.PREPROCESS, step_args)

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
                # r2 may be negative.
                MetricDefinition(name=f"validation:{m}", regex=f"validation:{m}=(-?[0-9.]+);")
                for m in settings.VALIDATION_METRICS
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
        return self.job_step(TrainingStep, settings.TRAIN, step_args)

    def evaluate_step(
        self, preprocess: ProcessingStep, train: TrainingStep, report: PropertyFile
    ) -> ProcessingStep:
        splits = preprocess.properties.ProcessingOutputConfig.Outputs
        step_args = self.script_processor("evaluate").run(
            inputs=[
                self.code_input("evaluate"),
                processing_input(
                    "model",
                    train.properties.ModelArtifacts.S3ModelArtifacts,
                    f"{PROCESSING}/input/model",
                ),
                processing_input("test", splits["test"].S3Output.S3Uri, f"{PROCESSING}/input/test"),
            ],
            outputs=[
                self.output(settings.EVALUATE, "evaluation", f"{PROCESSING}/output/evaluation")
            ],
            arguments=list(settings.EVALUATE_ARGUMENTS),
        )
        return self.job_step(ProcessingStep, settings.EVALUATE, step_args, property_files=[report])

    def baseline_step(self, preprocess: ProcessingStep) -> ProcessingStep:
        analyzer = Processor(
            role=self.role_arn,
            image_uri=self.analyzer_image,
            instance_count=1,
            instance_type=self.processing_instance_type,
            volume_kms_key=self.kms_key_arn,
            output_kms_key=self.kms_key_arn,
            max_runtime_in_seconds=_MAX_RUNTIME_SECONDS,
            env=dict(ANALYZER_ENVIRONMENT),
            sagemaker_session=self.session,
        )
        dataset = preprocess.properties.ProcessingOutputConfig.Outputs["baseline"]
        step_args = analyzer.run(
            inputs=[
                processing_input("baseline_dataset_input", dataset.S3Output.S3Uri, ANALYZER_INPUT)
            ],
            outputs=[self.output(settings.DATA_QUALITY_BASELINE, "baseline", ANALYZER_OUTPUT)],
        )
        return self.job_step(ProcessingStep, settings.DATA_QUALITY_BASELINE, step_args)

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
        statistics = json_source(baseline_dir, "statistics.json")
        constraints = json_source(baseline_dir, "constraints.json")
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
                model_statistics=json_source(evaluation_dir, settings.EVALUATION_REPORT),
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

    def job_step(
        self, kind: Callable[..., _Step], name: str, step_args: Any, **extra: Any
    ) -> _Step:
        """A processing or training step with this pipeline's caching and retries."""
        return kind(
            name=name,
            step_args=step_args,
            cache_config=self.cache,
            retry_policies=[self.step_retry, self.job_retry],
            **extra,
        )

    def script_processor(self, source: str) -> Processor:
        """A scikit-learn container job that runs step source ``source``'s script from
        its ``code`` input (``code_input(source)``) by its natural path."""
        return Processor(
            role=self.role_arn,
            image_uri=self.sklearn_image,
            instance_count=1,
            instance_type=self.processing_instance_type,
            entrypoint=["python3", f"{CODE_DIR}/{settings.SCRIPT_SOURCES[source]}"],
            volume_kms_key=self.kms_key_arn,
            output_kms_key=self.kms_key_arn,
            max_runtime_in_seconds=_MAX_RUNTIME_SECONDS,
            sagemaker_session=self.session,
        )

    def code_input(self, source: str) -> ProcessingInput:
        return processing_input("code", placeholders.step_source(source), CODE_DIR)

    def output(self, step: str, name: str, local_path: str) -> ProcessingOutput:
        """An output under this execution's own prefix (executions never overwrite)."""
        return execution_output(self.prefix, step, name, local_path)
