"""The tabular binary classifier pipeline: its public API, settings and step code.

``build_pipeline`` returns a SageMaker Python SDK v3 ``Pipeline``; its ``.definition()``
is the same JSON text on every call, is built without network access, and carries only
placeholders (`constructs_lib.placeholders`) where deploy-time values go: the role, the
artifact bucket, the KMS key and the S3 URIs of step code. ``step_sources`` maps each
step-code placeholder name to the local file the construct uploads as an asset.

Steps (names are the module constants below)::

    Preprocess ─┬─> Train ──> Evaluate ──┬─> QualityGate ─┬─ metric >= threshold ──> RegisterModel
                └─> DataQualityBaseline ─┘                └─ otherwise ──> ModelQualityTooLow (Fail)

How step code gets to each job (names are ``placeholders.step_source`` names)::

    preprocess, evaluate   the script, a processing input at /opt/ml/processing/input/code,
                           run as python3 /opt/ml/processing/input/code/<name>.py
    train                  train_sourcedir.tar.gz (train.py, inference.py): the training
                           toolkit's sagemaker_submit_directory
    (serving)              inference.py inside model.tar.gz (code/), which the registered
                           package's SAGEMAKER_SUBMIT_DIRECTORY points at

S3 layout (``<bucket>`` is the artifact bucket)::

    s3://<bucket>/datasets/tabular-classifier/      InputDataUri default (DATA_PREFIX);
                                                    every *.csv under it is read
    s3://<bucket>/pipelines/<pipeline name>/
        <execution id>/Preprocess/{train,validation,test,baseline}/
        <execution id>/Evaluate/evaluation/evaluation.json
                          -> ModelMetrics.ModelQuality.Statistics
        <execution id>/DataQualityBaseline/baseline/{statistics,constraints}.json
                          -> ModelMetrics.ModelDataQuality, DriftCheckBaselines.ModelDataQuality
        training/<training job name>/output/model.tar.gz
                          -> model.joblib + code/inference.py; the package's ModelDataUrl

Importing this module does not import the SageMaker SDK (a multi-second import);
``build_pipeline`` does, after preparing the environment for it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from constructs_lib import placeholders
from constructs_lib.errors import ConfigurationError
from pipelines._offline import sdk_session
from pipelines._offline import write_archive as _write_archive

if TYPE_CHECKING:
    from sagemaker.mlops.workflow import Pipeline

STEPS_DIR = Path(__file__).resolve().parent / "steps"
"""Where the step scripts live (each also runs locally; see their docstrings)."""

# Step names.
PREPROCESS = "Preprocess"
TRAIN = "Train"
EVALUATE = "Evaluate"
DATA_QUALITY_BASELINE = "DataQualityBaseline"
QUALITY_GATE = "QualityGate"
REGISTER_MODEL = "RegisterModel"
QUALITY_FAILED = "ModelQualityTooLow"

# Pipeline parameter names.
INPUT_DATA_URI = "InputDataUri"
PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
MODEL_QUALITY_THRESHOLD = "ModelQualityThreshold"
MODEL_APPROVAL_STATUS = "ModelApprovalStatus"

DATA_PREFIX = "datasets/tabular-classifier/"
"""Key prefix in the artifact bucket that InputDataUri points at by default."""

SKLEARN_FRAMEWORK_VERSION = "1.9-0"
"""SageMaker scikit-learn container version for processing, training and serving."""

TARGET_COLUMN = "target"
RANDOM_SEED = 42

TRAIN_HYPERPARAMETERS: dict[str, str | int | float] = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "max_depth": 3,
    "random_state": RANDOM_SEED,
    "target_column": TARGET_COLUMN,
}
"""What steps/train.py is run with (the container passes them as ``--name value``)."""

PREPROCESS_ARGUMENTS = ("--target-column", TARGET_COLUMN, "--random-state", str(RANDOM_SEED))
"""Container arguments of the Preprocess job (steps/preprocess.py options)."""
EVALUATE_ARGUMENTS = ("--target-column", TARGET_COLUMN)
"""Container arguments of the Evaluate job (steps/evaluate.py options)."""

EVALUATION_REPORT = "evaluation.json"
QUALITY_METRIC_PATH = "binary_classification_metrics.accuracy.value"
"""JSON path of the gated metric in the report steps/evaluate.py writes."""

SERVING_CODE_DIR = "/opt/ml/model/code"
"""Where the serving container finds inference.py: inside the model archive."""

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_QUALITY_THRESHOLD = 0.9
DEFAULT_APPROVAL_STATUS = "PendingManualApproval"
CACHE_EXPIRE_AFTER = "P30D"
CONTENT_TYPES = ("text/csv", "application/json")
RESPONSE_TYPES = ("application/json",)
INFERENCE_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge")
TRANSFORM_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge")

# Step code. Scripts run by processing jobs are staged as they are, under their own
# names (the jobs run /opt/ml/processing/input/code/<script>) ...
SCRIPT_SOURCES = {"preprocess": "preprocess.py", "evaluate": "evaluate.py"}
"""Step-source name -> the script a processing job runs."""
# ... while the training toolkit wants script-mode code as one tar.gz (it also carries
# inference.py, which train.py copies into the model archive).
_ARCHIVE_SOURCES = {"train": ("train_sourcedir.tar.gz", ("inference.py", "train.py"))}

_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


def build_pipeline(
    *,
    pipeline_name: str,
    model_package_group_name: str,
    region: str,
    role_arn: str = placeholders.ROLE_ARN,
    bucket: str = placeholders.BUCKET_NAME,
    kms_key_arn: str = placeholders.KMS_KEY_ARN,
    processing_instance_type: str = DEFAULT_INSTANCE_TYPE,
    training_instance_type: str = DEFAULT_INSTANCE_TYPE,
    model_quality_threshold: float = DEFAULT_QUALITY_THRESHOLD,
) -> Pipeline:
    """The pipeline as an SDK ``Pipeline``; ``.definition()`` gives its JSON.

    ``region`` picks the container image URIs. ``role_arn``, ``bucket`` and
    ``kms_key_arn`` default to the placeholders ``SageMakerPipeline`` replaces; step code
    is always referenced through ``placeholders.step_source`` (see ``step_sources``).
    The last three set the defaults of the ProcessingInstanceType, TrainingInstanceType
    and ModelQualityThreshold parameters (an execution may override them). Nothing is
    uploaded and no AWS API is called. Raises ConfigurationError for an invalid value.
    """
    _check("pipeline_name", pipeline_name, _PIPELINE_NAME, "1-256 letters, digits or '-'")
    _check(
        "model_package_group_name",
        model_package_group_name,
        _GROUP_NAME,
        "1-63 letters, digits or '-'",
    )
    _check("region", region, _REGION, "an AWS region name such as eu-west-1")
    _check(
        "processing_instance_type", processing_instance_type, _INSTANCE_TYPE, "ml.<family>.<size>"
    )
    _check("training_instance_type", training_instance_type, _INSTANCE_TYPE, "ml.<family>.<size>")
    if isinstance(model_quality_threshold, bool) or not (
        isinstance(model_quality_threshold, int | float) and 0 <= model_quality_threshold <= 1
    ):
        raise ConfigurationError(
            f"build_pipeline model_quality_threshold: got {model_quality_threshold!r}; "
            "allowed: a number from 0 to 1 (the gated metric is an accuracy)"
        )
    # Read by the SDK at import and when jobs are defined: a region (one of its modules
    # creates a boto3 client at import) and no IAM look-up of the role. setdefault, so a
    # caller's own settings win.
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    with sdk_session():
        from pipelines.tabular_classifier import _definition

        return _definition.build(
            pipeline_name=pipeline_name,
            model_package_group_name=model_package_group_name,
            region=region,
            role_arn=role_arn,
            bucket=bucket,
            kms_key_arn=kms_key_arn,
            processing_instance_type=processing_instance_type,
            training_instance_type=training_instance_type,
            model_quality_threshold=float(model_quality_threshold),
        )


def step_sources(build_dir: Path) -> dict[str, Path]:
    """Step-code placeholder name -> local file, for every ``step_source`` the pipeline uses.

    Scripts are returned where they are; source archives are written into ``build_dir``
    (created if needed), byte for byte the same for the same code: sorted entries,
    mtime 0, uid/gid 0, no name or timestamp in the gzip header. An archive whose bytes
    are already right is not rewritten.
    """
    sources = {name: STEPS_DIR / script for name, script in SCRIPT_SOURCES.items()}
    build_dir.mkdir(parents=True, exist_ok=True)
    for name, (archive, files) in _ARCHIVE_SOURCES.items():
        sources[name] = _write_archive(build_dir / archive, [STEPS_DIR / f for f in files])
    return dict(sorted(sources.items()))


def _check(prop: str, value: object, pattern: re.Pattern[str], allowed: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigurationError(f"build_pipeline {prop}: got {value!r}; allowed: {allowed}")
