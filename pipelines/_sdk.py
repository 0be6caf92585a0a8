"""SageMaker SDK v3 pieces every pipeline package builds its definition from (imports the SDK).

Import it only inside ``_offline.sdk_session`` after ``_offline.prepare_sdk_environment``
(the packages' ``_definition`` modules do). Choices that keep a definition offline and
reproducible, whatever the pipeline:

* the session has a fixed bucket, inert static credentials (nothing can reach a real
  account), a region, and an SDK config dict with telemetry off, so no SDK config file
  on the machine changes the definition (``offline_session``);
* ``definition()`` runs inside ``sdk_session`` too (``OfflinePipeline``);
* every job step caches and retries the same way (``cache_config``, ``retry_policies``);
* every job runs network-isolated with inter-container traffic encrypted, in the VPC
  when one is given (``network_config``, ``networking``); training code reaches the
  isolated container as an input channel, not a download (``CODE_CHANNEL``);
* outputs go under the execution's own prefix (``execution_output``), and a later step
  names what it reads by step properties, so a cached step's outputs are what its
  successors get.

``ScikitLearnPipeline`` builds the shape every reference package shares (preprocess,
train, evaluate and baseline jobs in the scikit-learn and Model Monitor containers, a
quality gate, registration); a package gives its settings module, its gate and its
training metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, TypeVar
from unittest import mock

import boto3
from sagemaker.core import image_uris
from sagemaker.core.clarify import (
    BiasConfig,
    DataConfig,
    ModelConfig,
    ModelPredictedLabelConfig,
    SHAPConfig,
)
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.model_metrics import FileSource, MetricsSource, ModelMetrics
from sagemaker.core.model_monitor.dataset_format import DatasetFormat
from sagemaker.core.network import NetworkConfig
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import (
    MetricDefinition,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.training.configs import (
    Compute,
    InputData,
    Networking,
    OutputDataConfig,
    StoppingCondition,
)
from sagemaker.core.workflow.conditions import (
    ConditionGreaterThanOrEqualTo,
    ConditionLessThanOrEqualTo,
)
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
    clarify_check_step,
)
from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
from sagemaker.mlops.workflow.clarify_check_step import (
    ClarifyCheckStep,
    ModelBiasCheckConfig,
    ModelExplainabilityCheckConfig,
)
from sagemaker.mlops.workflow.quality_check_step import ModelQualityCheckConfig, QualityCheckStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

from constructs_lib import placeholders
from constructs_lib.images import clarify_image, model_monitor_image
from pipelines import _offline as shared
from pipelines._offline import sdk_session

PROCESSING = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING}/input/code"
"""Where a processing job finds its step source (run as ``python3 <CODE_DIR>/<file>``)."""
CODE_CHANNEL = "code"
"""The training input channel that carries the training code archive. A network-isolated
container cannot download ``sagemaker_submit_directory`` from S3, so (as the SDK does
when isolation is on) the archive arrives as this channel and the toolkit's
``sagemaker_submit_directory`` names its local path."""
TRAINING_CODE_DIR = f"/opt/ml/input/data/{CODE_CHANNEL}"

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
MAX_RUNTIME_SECONDS = 3600
_Step = TypeVar("_Step")


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


class _BaselineOnly:
    """A check step that only computes a baseline (``skip_check=True``), with the request
    fields the SDK writes as null left out (absent is what they mean) and without
    ``FailOnViolation``, which a skipped check never applies."""

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = super().to_request()  # type: ignore[misc]
        assert request.get("SkipCheck") is True
        return {k: v for k, v in request.items() if v is not None and k != "FailOnViolation"}


class BaselineQualityCheckStep(_BaselineOnly, QualityCheckStep):  # type: ignore[misc]
    """A QualityCheck step that computes a baseline only (see ``_BaselineOnly``)."""


class BaselineClarifyCheckStep(_BaselineOnly, ClarifyCheckStep):  # type: ignore[misc]
    """A ClarifyCheck step that computes a baseline only (see ``_BaselineOnly``)."""


_Check = TypeVar("_Check", QualityCheckStep, ClarifyCheckStep)


def pinned_check_job(step: _Check, image_uri: str) -> _Check:
    """``step`` with its job on ``image_uri`` and a network config the definition can hold.

    CheckJobConfig takes no image (the SDK picks one for the region; the pinned one is
    the same URI, asserted in the tests), and the SDK's check-job request copies the
    NetworkConfig object itself into the definition, which JSON cannot encode: its
    request form is put there instead.
    """
    processor = step._baselining_processor
    processor.image_uri = image_uri
    if isinstance(processor.network_config, NetworkConfig):
        processor.network_config = processor.network_config._to_request_dict()
    return step


def metrics_source(s3_uri: Any) -> MetricsSource:
    """A JSON file at ``s3_uri`` (a check step's baseline property)."""
    return MetricsSource(s3_uri=s3_uri, content_type=_JSON)


def file_source(s3_uri: Any) -> FileSource:
    """A JSON file at ``s3_uri`` (a Clarify analysis config)."""
    return FileSource(s3_uri=s3_uri, content_type=_JSON)


def shared_config(check: str) -> str:
    """Where, below Evaluate's clarify output, the ``check``'s analysis config is."""
    return shared.CLARIFY_CONFIGS[check]


class ScikitLearnPipeline:
    """Preprocess -> Train -> Evaluate, DataQualityBaseline, ModelQualityBaseline (and with
    Clarify settings ClarifyModel, ModelBiasBaseline, ModelExplainabilityBaseline) ->
    QualityGate -> RegisterModel.

    Holds what every step shares (session, parameters, images, S3 prefix, caching and
    retries) and builds the steps in the order they run. What differs between packages
    is given: ``settings`` (the package's ``pipeline`` module: data prefix, container
    version, hyperparameters, job arguments, gated metric), the gate's threshold
    parameter and direction, and the metric definitions of the training job.

    Step code is referenced by ``placeholders.step_source`` URIs, so the SDK uploads
    nothing: processing scripts run by their own path (``python3 <code dir>/<script>``);
    training uses the scikit-learn container's script mode (``sagemaker_program`` /
    ``sagemaker_submit_directory``) rather than ``ModelTrainer``'s ``source_code``, which
    uploads the SDK's driver scripts; and ``ModelBuilder.register`` gets
    ``dependencies={}``, which otherwise triggers a code upload.

    How step code gets to each job (names are ``placeholders.step_source`` names)::

        preprocess, evaluate   a folder (the script and step_common.py), a processing input at
                               /opt/ml/processing/input/code, run as
                               python3 /opt/ml/processing/input/code/<name>.py
        train                  train_sourcedir.tar.gz (train.py, inference.py, step_common.py,
                               step_serving.py): the training job's `code` input channel, so
                               at /opt/ml/input/data/code/train_sourcedir.tar.gz, which the
                               toolkit's sagemaker_submit_directory names (it extracts it to
                               /opt/ml/code and runs train.py; no S3 download, so the job can
                               run network-isolated)
        (serving)              inference.py and step_serving.py inside model.tar.gz (code/),
                               which the registered package's SAGEMAKER_SUBMIT_DIRECTORY points at

    ``step_common.py`` and ``step_serving.py`` come from ``pipelines/_steps`` (see
    ``_offline.step_sources``).

    S3 layout (``<bucket>`` is the artifact bucket)::

        s3://<bucket>/datasets/<pipeline name>/         InputDataUri default;
                                                        every *.csv under it is read
        s3://<bucket>/pipelines/<pipeline name>/
            <execution id>/Preprocess/{train,validation,test,baseline}/
            <execution id>/Evaluate/evaluation/evaluation.json
                              -> ModelMetrics.ModelQuality.Statistics
            <execution id>/Evaluate/predictions/predictions.csv   (ModelQualityBaseline's input)
            <execution id>/Evaluate/clarify/{dataset,bias,explainability}/  (with Clarify)
            <execution id>/DataQualityBaseline/baseline/{statistics,constraints}.json
                              -> ModelMetrics.ModelDataQuality, DriftCheckBaselines.ModelDataQuality
            <execution id>/ModelQualityBaseline/baseline/{statistics,constraints}.json
                              -> ModelMetrics.ModelQuality.Constraints, DriftCheckBaselines.ModelQuality
            <execution id>/ModelBiasBaseline/report/analysis.json (and the report)
                              -> ModelMetrics.Bias.PostTrainingReport, DriftCheckBaselines.Bias
            <execution id>/ModelExplainabilityBaseline/report/analysis.json
                              -> ModelMetrics.Explainability.Report, DriftCheckBaselines.Explainability
            training/<training job name>/output/model.tar.gz
                              -> model.joblib, code/; the package's ModelDataUrl
    """

    def __init__(
        self,
        settings: ModuleType,
        *,
        pipeline_name: str,
        region: str,
        role_arn: str,
        bucket: str,
        kms_key_arn: str,
        processing_instance_type: str,
        training_instance_type: str,
        threshold: ParameterFloat,
        subnet_ids: tuple[str, ...] = (),
        security_group_ids: tuple[str, ...] = (),
        higher_is_better: bool,
        metric_definitions: list[MetricDefinition],
        clarify: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.clarify = dict(clarify) if clarify else None
        self.pipeline_name = pipeline_name
        self.region = region
        self.role_arn = role_arn
        self.kms_key_arn = kms_key_arn
        self.threshold = threshold
        self.higher_is_better = higher_is_better
        self.metric_definitions = metric_definitions
        self.subnet_ids = list(subnet_ids) or None
        self.security_group_ids = list(security_group_ids) or None
        self.prefix = f"s3://{bucket}/pipelines/{pipeline_name}"
        self.session = offline_session(region, bucket)
        self.sklearn_image, self.serving_image = (
            image_uris.retrieve(
                framework="sklearn",
                region=region,
                version=settings.SKLEARN_FRAMEWORK_VERSION,
                py_version="py3",
                instance_type=shared.DEFAULT_INSTANCE_TYPE,
                image_scope=scope,
            )
            for scope in ("training", "inference")
        )
        # As AWS documents it (no version tag exists), the same as DataQualityMonitor's.
        self.analyzer_image = model_monitor_image(region)
        self.clarify_image = clarify_image(region)

        self.input_data_uri = ParameterString(
            shared.INPUT_DATA_URI,
            default_value=f"s3://{bucket}/{shared.data_prefix(pipeline_name)}",
        )
        self.processing_instance_type = ParameterString(
            shared.PROCESSING_INSTANCE_TYPE, default_value=processing_instance_type
        )
        self.training_instance_type = ParameterString(
            shared.TRAINING_INSTANCE_TYPE, default_value=training_instance_type
        )
        self.approval_status = ParameterString(
            shared.MODEL_APPROVAL_STATUS, default_value=shared.DEFAULT_APPROVAL_STATUS
        )
        self.cache = cache_config(shared.CACHE_EXPIRE_AFTER)
        self.step_retry = step_retry_policy()
        self.job_retry = job_retry_policy()

    # -- the pipeline ------------------------------------------------------------------

    def pipeline(self, model_package_group_name: str) -> Pipeline:
        preprocess = self.preprocess_step()
        train = self.train_step(preprocess)
        evaluation_report = PropertyFile(
            name="EvaluationReport", output_name="evaluation", path=shared.EVALUATION_REPORT
        )
        evaluate = self.evaluate_step(preprocess, train, evaluation_report)
        baseline = self.baseline_step(preprocess)
        quality = self.model_quality_step(evaluate)
        baselines: list[Any] = [baseline, quality]
        clarify: dict[str, ClarifyCheckStep] = {}
        model = None
        if self.clarify:
            model = self.clarify_model_step(train)
            clarify = self.clarify_steps(evaluate, model)
            baselines += list(clarify.values())
        register = self.register_step(
            model_package_group_name, train, evaluate, baseline, quality, clarify
        )
        gate = self.quality_gate(evaluate, evaluation_report, register, baselines)
        return OfflinePipeline(
            name=self.pipeline_name,
            parameters=[
                self.input_data_uri,
                self.processing_instance_type,
                self.training_instance_type,
                self.threshold,
                self.approval_status,
            ],
            steps=[
                preprocess,
                train,
                evaluate,
                baseline,
                quality,
                *([model] if model is not None else []),
                *clarify.values(),
                gate,
            ],
            sagemaker_session=self.session,
            # No per-execution Experiments trial (extra IAM, region-dependent default).
            pipeline_experiment_config=None,
        )

    def quality_gate(
        self,
        evaluate: ProcessingStep,
        report: PropertyFile,
        register: ModelStep,
        baselines: list[Any],
    ) -> ConditionStep:
        """Register when the gated metric is at least (higher is better) or at most the
        threshold; otherwise fail, saying both."""
        metric = JsonGet(
            step_name=evaluate.name,
            property_file=report,
            json_path=self.settings.QUALITY_METRIC_PATH,
        )
        if self.higher_is_better:
            condition: Any = ConditionGreaterThanOrEqualTo(left=metric, right=self.threshold)
        else:
            condition = ConditionLessThanOrEqualTo(left=metric, right=self.threshold)
        failed = FailStep(
            name=shared.QUALITY_FAILED,
            error_message=Join(
                on=" ",
                values=[
                    f"Model quality too low: {self.settings.QUALITY_METRIC_PATH} =",
                    metric,
                    f"is {'below' if self.higher_is_better else 'above'} {self.threshold.name} =",
                    self.threshold,
                ],
            ),
        )
        return ConditionStep(
            name=shared.QUALITY_GATE,
            conditions=[condition],
            if_steps=[register],
            else_steps=[failed],
            # Registration reads the baselines' outputs: decide once they are all there.
            depends_on=baselines,
        )

    # -- steps -------------------------------------------------------------------------

    def preprocess_step(self) -> ProcessingStep:
        step_args = self.script_processor("preprocess").run(
            inputs=[
                self.code_input("preprocess"),
                processing_input("data", self.input_data_uri, f"{PROCESSING}/input/data"),
            ],
            outputs=[
                self.output(shared.PREPROCESS, name, f"{PROCESSING}/output/{name}")
                for name in ("train", "validation", "test", "baseline")
            ],
            arguments=list(self.settings.PREPROCESS_ARGUMENTS),
        )
        return self.job_step(ProcessingStep, shared.PREPROCESS, step_args)

    def train_step(self, preprocess: ProcessingStep) -> TrainingStep:
        hyperparameters = {
            **self.settings.TRAIN_HYPERPARAMETERS,
            # Script mode of the scikit-learn container's training toolkit, reading the
            # code archive from the code channel (the container has no network).
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": f"{TRAINING_CODE_DIR}/{shared.TRAIN_ARCHIVE}",
            "sagemaker_region": self.region,
            "sagemaker_container_log_level": logging.INFO,
        }
        trainer = ModelTrainer(
            sagemaker_session=self.session,
            role=self.role_arn,
            base_job_name=shared.TRAIN.lower(),
            training_image=self.sklearn_image,
            compute=Compute(
                instance_type=self.training_instance_type,
                instance_count=1,
                volume_size_in_gb=30,
                volume_kms_key_id=self.kms_key_arn,
            ),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=MAX_RUNTIME_SECONDS),
            output_data_config=OutputDataConfig(
                s3_output_path=f"{self.prefix}/{shared.MODEL_ARTIFACTS_DIR}",
                kms_key_id=self.kms_key_arn,
            ),
            hyperparameters=hyperparameters,
            networking=self.networking(),
        ).with_metric_definitions(self.metric_definitions)
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
            + [InputData(channel_name=CODE_CHANNEL, data_source=placeholders.step_source("train"))]
        )
        return self.job_step(TrainingStep, shared.TRAIN, step_args)

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
                self.output(shared.EVALUATE, name, f"{PROCESSING}/output/{name}")
                for name in ("evaluation", "predictions", *(["clarify"] if self.clarify else []))
            ],
            arguments=[*self.settings.EVALUATE_ARGUMENTS, *self.clarify_arguments()],
        )
        return self.job_step(ProcessingStep, shared.EVALUATE, step_args, property_files=[report])

    def baseline_step(self, preprocess: ProcessingStep) -> ProcessingStep:
        analyzer = Processor(
            role=self.role_arn,
            image_uri=self.analyzer_image,
            instance_count=1,
            instance_type=self.processing_instance_type,
            volume_kms_key=self.kms_key_arn,
            output_kms_key=self.kms_key_arn,
            max_runtime_in_seconds=MAX_RUNTIME_SECONDS,
            env=dict(ANALYZER_ENVIRONMENT),
            network_config=self.network_config(),
            sagemaker_session=self.session,
        )
        dataset = preprocess.properties.ProcessingOutputConfig.Outputs["baseline"]
        step_args = analyzer.run(
            inputs=[
                processing_input("baseline_dataset_input", dataset.S3Output.S3Uri, ANALYZER_INPUT)
            ],
            outputs=[self.output(shared.DATA_QUALITY_BASELINE, "baseline", ANALYZER_OUTPUT)],
        )
        return self.job_step(ProcessingStep, shared.DATA_QUALITY_BASELINE, step_args)

    def model_quality_step(self, evaluate: ProcessingStep) -> QualityCheckStep:
        """Model Monitor's model-quality baselining job on Evaluate's predictions.csv.

        It only computes the baseline (statistics and constraints of the model-quality
        metrics): no check against a previous version (``skip_check``), and the new
        baseline is the one registered for drift checks (``register_new_baseline``).
        """
        predictions = evaluate.properties.ProcessingOutputConfig.Outputs["predictions"]
        problem_type = self.settings.MODEL_QUALITY_PROBLEM_TYPE
        step = BaselineQualityCheckStep(
            name=shared.MODEL_QUALITY_BASELINE,
            quality_check_config=ModelQualityCheckConfig(
                baseline_dataset=predictions.S3Output.S3Uri,
                dataset_format=DatasetFormat.csv(header=True),
                output_s3_uri=self.execution_prefix(shared.MODEL_QUALITY_BASELINE, "baseline"),
                problem_type=problem_type,
                inference_attribute=shared.PREDICTION_COLUMN,
                probability_attribute=(
                    shared.PROBABILITY_COLUMN if problem_type == "BinaryClassification" else None
                ),
                ground_truth_attribute=shared.LABEL_COLUMN,
            ),
            check_job_config=self.check_job_config(isolated=True),
            skip_check=True,
            register_new_baseline=True,
            cache_config=self.cache,
        )
        return pinned_check_job(step, self.analyzer_image)

    def clarify_model_step(self, train: TrainingStep) -> ModelStep:
        """CreateModel from the trained artifact: the model Clarify hosts as a shadow
        endpoint while it computes the bias and SHAP baselines (network-isolated, in the
        pipeline's VPC when it has one)."""
        builder = self.model_builder(train, network=self.networking())
        return ModelStep(
            name=shared.CLARIFY_MODEL, step_args=builder.build(), retry_policies=[self.step_retry]
        )

    def clarify_steps(
        self, evaluate: ProcessingStep, model: ModelStep
    ) -> dict[str, ClarifyCheckStep]:
        """The bias (post-training) and explainability (SHAP) baselines the settings ask
        for, each a Clarify job on Evaluate's clarify dataset and analysis config."""
        assert self.clarify is not None
        clarify_dir = evaluate.properties.ProcessingOutputConfig.Outputs["clarify"].S3Output.S3Uri
        features = list(self.settings.FEATURES)
        target = self.settings.TARGET_COLUMN
        data = {
            "s3_data_input_path": Join(on="/", values=[clarify_dir, "dataset"]),
            "label": target,
            "headers": [target, *features],
            "dataset_type": "text/csv",
            # Never written: the analysis config comes from Evaluate (OfflineClarifyCheckStep).
            "s3_analysis_config_output_path": f"{self.prefix}/clarify-analysis-config",
        }
        model_config = ModelConfig(
            model_name=model.properties.ModelName,
            instance_count=1,
            instance_type=shared.INFERENCE_INSTANCE_TYPES[0],
            content_type="text/csv",
            accept_type="application/json",
        )
        predictor = self.settings.CLARIFY_PREDICTOR
        steps: dict[str, ClarifyCheckStep] = {}
        bias = self.clarify.get("bias")
        if bias:
            facets = bias["facets"]
            config: Any = ModelBiasCheckConfig(
                data_config=DataConfig(
                    s3_output_path=self.execution_prefix(shared.MODEL_BIAS_BASELINE, "report"),
                    **data,
                ),
                data_bias_config=BiasConfig(
                    label_values_or_threshold=list(bias["label_values"]),
                    facet_name=[f["name"] for f in facets],
                    facet_values_or_threshold=[
                        list(f["values"]) if "values" in f else [f["threshold"]] for f in facets
                    ],
                ),
                model_config=model_config,
                model_predicted_label_config=ModelPredictedLabelConfig(label=predictor["label"]),
                kms_key=self.kms_key_arn,
            )
            steps["bias"] = self.clarify_step(
                shared.MODEL_BIAS_BASELINE, config, Join(on="/", values=[clarify_dir, "bias"])
            )
        shap = self.clarify.get("explainability")
        if shap:
            shap = {**shared.SHAP_DEFAULTS, **shap}
            baseline = shap["shap_baseline"]
            config = ModelExplainabilityCheckConfig(
                data_config=DataConfig(
                    s3_output_path=self.execution_prefix(
                        shared.MODEL_EXPLAINABILITY_BASELINE, "report"
                    ),
                    **data,
                ),
                model_config=model_config,
                explainability_config=SHAPConfig(
                    baseline=None if baseline == "mean" else [list(r) for r in baseline],
                    num_samples=int(shap["num_samples"]),
                    agg_method=shap["agg_method"],
                ),
                model_scores=predictor.get("probability", predictor["label"]),
                kms_key=self.kms_key_arn,
            )
            steps["explainability"] = self.clarify_step(
                shared.MODEL_EXPLAINABILITY_BASELINE,
                config,
                Join(on="/", values=[clarify_dir, "explainability"]),
            )
        return steps

    def clarify_step(self, name: str, config: Any, config_uri: Any) -> ClarifyCheckStep:
        """A ClarifyCheck step that computes a baseline only (as ``model_quality_step``).

        The SDK's ClarifyCheckStep uploads two analysis configs while the definition is
        built (under names with a timestamp and a random id), which an offline,
        reproducible build cannot do. Here the monitoring config is not uploaded at all
        (the monitors write their own at deploy time) and the job's config input is
        ``config_uri``, the prefix where Evaluate wrote it.
        """
        with (
            mock.patch.object(
                clarify_check_step, "_upload_analysis_config", return_value=config_uri
            ),
            mock.patch.object(
                ClarifyCheckStep, "_upload_monitoring_analysis_config", return_value=None
            ),
        ):
            step = BaselineClarifyCheckStep(
                name=name,
                clarify_check_config=config,
                # Not isolated: Clarify calls the SageMaker API to host and invoke the
                # shadow endpoint (the model it hosts is isolated).
                check_job_config=self.check_job_config(isolated=False),
                skip_check=True,
                register_new_baseline=True,
                cache_config=self.cache,
            )
        return pinned_check_job(step, self.clarify_image)

    def clarify_arguments(self) -> list[str]:
        """The Evaluate job's ``--clarify`` arguments (none without Clarify settings)."""
        if not self.clarify:
            return []
        return shared.clarify_arguments(
            shared.clarify_job_settings(
                self.clarify, self.settings.CLARIFY_PREDICTOR, shared.INFERENCE_INSTANCE_TYPES[0]
            )
        )

    def check_job_config(self, *, isolated: bool) -> CheckJobConfig:
        """A QualityCheck or ClarifyCheck job's resources, keys and network."""
        return CheckJobConfig(
            role=self.role_arn,
            instance_count=1,
            instance_type=self.processing_instance_type,
            volume_size_in_gb=30,
            volume_kms_key=self.kms_key_arn,
            output_kms_key=self.kms_key_arn,
            max_runtime_in_seconds=MAX_RUNTIME_SECONDS,
            sagemaker_session=self.session,
            network_config=NetworkConfig(
                enable_network_isolation=isolated,
                encrypt_inter_container_traffic=True,
                subnets=self.subnet_ids,
                security_group_ids=self.security_group_ids,
            ),
        )

    def model_builder(self, train: TrainingStep, **extra: Any) -> ModelBuilder:
        """The serving container on the trained artifact (inference.py travels inside
        model.tar.gz: train.py puts it there)."""
        return ModelBuilder(
            sagemaker_session=self.session,
            role_arn=self.role_arn,
            image_uri=self.serving_image,
            s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
            env_vars={
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": shared.SERVING_CODE_DIR,
                "SAGEMAKER_REGION": self.region,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": str(logging.INFO),
            },
            instance_type=shared.INFERENCE_INSTANCE_TYPES[0],
            dependencies={},
            **extra,
        )

    def register_step(
        self,
        group_name: str,
        train: TrainingStep,
        evaluate: ProcessingStep,
        baseline: ProcessingStep,
        quality: QualityCheckStep,
        clarify: dict[str, ClarifyCheckStep],
    ) -> ModelStep:
        baseline_dir = baseline.properties.ProcessingOutputConfig.Outputs["baseline"].S3Output.S3Uri
        evaluation_dir = evaluate.properties.ProcessingOutputConfig.Outputs[
            "evaluation"
        ].S3Output.S3Uri
        statistics = json_source(baseline_dir, "statistics.json")
        constraints = json_source(baseline_dir, "constraints.json")
        quality_props = quality.properties
        bias = clarify.get("bias")
        shap = clarify.get("explainability")
        clarify_dir = (
            evaluate.properties.ProcessingOutputConfig.Outputs["clarify"].S3Output.S3Uri
            if clarify
            else None
        )
        builder = self.model_builder(train)
        step_args = builder.register(
            model_package_group_name=group_name,
            content_types=list(shared.CONTENT_TYPES),
            response_types=list(shared.RESPONSE_TYPES),
            inference_instances=list(shared.INFERENCE_INSTANCE_TYPES),
            transform_instances=list(shared.TRANSFORM_INSTANCE_TYPES),
            approval_status=self.approval_status,
            model_metrics=ModelMetrics(
                # The report the quality gate passed and the approval function reads
                # (the model-quality statistics shape, from the same predictions).
                model_statistics=json_source(evaluation_dir, shared.EVALUATION_REPORT),
                model_constraints=metrics_source(quality_props.CalculatedBaselineConstraints),
                model_data_statistics=statistics,
                model_data_constraints=constraints,
                bias_post_training=(
                    metrics_source(bias.properties.CalculatedBaselineConstraints) if bias else None
                ),
                explainability=(
                    metrics_source(shap.properties.CalculatedBaselineConstraints) if shap else None
                ),
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=statistics,
                model_data_constraints=constraints,
                model_statistics=metrics_source(quality_props.BaselineUsedForDriftCheckStatistics),
                model_constraints=metrics_source(
                    quality_props.BaselineUsedForDriftCheckConstraints
                ),
                bias_config_file=(
                    file_source(Join(on="/", values=[clarify_dir, shared_config("bias")]))
                    if bias
                    else None
                ),
                bias_post_training_constraints=(
                    metrics_source(bias.properties.BaselineUsedForDriftCheckConstraints)
                    if bias
                    else None
                ),
                explainability_config_file=(
                    file_source(Join(on="/", values=[clarify_dir, shared_config("explainability")]))
                    if shap
                    else None
                ),
                explainability_constraints=(
                    metrics_source(shap.properties.BaselineUsedForDriftCheckConstraints)
                    if shap
                    else None
                ),
            ),
        )
        return ModelStep(
            name=shared.REGISTER_MODEL, step_args=step_args, retry_policies=[self.step_retry]
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
            entrypoint=["python3", f"{CODE_DIR}/{shared.SCRIPT_SOURCES[source]}"],
            volume_kms_key=self.kms_key_arn,
            output_kms_key=self.kms_key_arn,
            max_runtime_in_seconds=MAX_RUNTIME_SECONDS,
            network_config=self.network_config(),
            sagemaker_session=self.session,
        )

    def network_config(self) -> NetworkConfig:
        """A processing job's network: isolated, inter-container traffic encrypted, in the
        pipeline's VPC when it has one."""
        return NetworkConfig(
            enable_network_isolation=True,
            encrypt_inter_container_traffic=True,
            subnets=self.subnet_ids,
            security_group_ids=self.security_group_ids,
        )

    def networking(self) -> Networking:
        """A training job's network: as ``network_config``."""
        return Networking(
            enable_network_isolation=True,
            enable_inter_container_traffic_encryption=True,
            subnets=self.subnet_ids,
            security_group_ids=self.security_group_ids,
        )

    def code_input(self, source: str) -> ProcessingInput:
        """The step source (a folder: the script and step_common.py) at ``CODE_DIR``."""
        return processing_input("code", placeholders.step_source(source), CODE_DIR)

    def output(self, step: str, name: str, local_path: str) -> ProcessingOutput:
        """An output under this execution's own prefix (executions never overwrite)."""
        return execution_output(self.prefix, step, name, local_path)

    def execution_prefix(self, step: str, name: str) -> Join:
        """``<prefix>/<execution id>/<step>/<name>``, as ``output`` writes."""
        return Join(
            on="/", values=[self.prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, step, name]
        )
