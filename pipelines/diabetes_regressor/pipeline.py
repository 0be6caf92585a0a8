"""The diabetes regressor pipeline: its public API, settings and step code.

A regression model on scikit-learn's bundled diabetes dataset (442 patients, 10
features, target: disease progression one year later). The package has the interface
of every pipeline package (see ``pipelines``): ``build_pipeline`` returns a SageMaker
Python SDK v3 ``Pipeline`` whose ``.definition()`` is the same JSON text on every call,
is built without network access, and carries only placeholders
(`constructs_lib.placeholders`) where deploy-time values go; ``step_sources`` maps each
step-code placeholder name to the local file the construct uploads.

Steps (names are the module constants below)::

    Preprocess ─┬─> Train ──> Evaluate ──┬─> QualityGate ─┬─ rmse <= MaxRmse ──> RegisterModel
                └─> DataQualityBaseline ─┘                └─ otherwise ──> ModelQualityTooLow (Fail)

Lower is better: the gate passes a model whose test rmse is at most ``MaxRmse``.

How step code gets to each job (names are ``placeholders.step_source`` names)::

    preprocess, evaluate   the script, a processing input at /opt/ml/processing/input/code,
                           run as python3 /opt/ml/processing/input/code/<name>.py
    train                  train_sourcedir.tar.gz (train.py, inference.py): the training
                           toolkit's sagemaker_submit_directory
    (serving)              inference.py inside model.tar.gz (code/), which the registered
                           package's SAGEMAKER_SUBMIT_DIRECTORY points at

S3 layout (``<bucket>`` is the artifact bucket)::

    s3://<bucket>/datasets/diabetes-regressor/      InputDataUri default (DATA_PREFIX);
                                                    every *.csv under it is read
                                                    (``python -m pipelines.diabetes_regressor.dataset``
                                                    writes the bundled data as one)
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

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constructs_lib import placeholders
from pipelines._offline import prepare_sdk_environment, sdk_session, write_archive

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
MAX_RMSE = "MaxRmse"
MODEL_APPROVAL_STATUS = "ModelApprovalStatus"

DATA_PREFIX = "datasets/diabetes-regressor/"
"""Key prefix in the artifact bucket that InputDataUri points at by default."""

FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
"""Feature columns, in the order a request carries them (``load_diabetes`` order)."""

SAMPLE_REQUEST = (
    "text/csv",
    "0.038075906433423026,0.05068011873981862,0.061696206518683294,0.0218723855140367,"
    "-0.04422349842444599,-0.03482076283769895,-0.04340084565202491,-0.002592261998183278,"
    "0.019907486170462722,-0.01764612515980379\n",
)
"""(content type, body) of a request the served model must answer: the first patient of
the bundled dataset, its 10 features in ``FEATURES`` order, no target."""

SKLEARN_FRAMEWORK_VERSION = "1.9-0"
"""SageMaker scikit-learn container version for processing, training and serving."""

TARGET_COLUMN = "target"
RANDOM_SEED = 42

TRAIN_HYPERPARAMETERS: dict[str, str | int | float] = {
    "n_estimators": 200,
    "learning_rate": 0.03,
    "max_depth": 2,
    "subsample": 0.8,
    "random_state": RANDOM_SEED,
    "target_column": TARGET_COLUMN,
}
"""What steps/train.py is run with (the container passes them as ``--name value``)."""

PREPROCESS_ARGUMENTS = ("--target-column", TARGET_COLUMN, "--random-state", str(RANDOM_SEED))
"""Container arguments of the Preprocess job (steps/preprocess.py options)."""
EVALUATE_ARGUMENTS = ("--target-column", TARGET_COLUMN, "--random-state", str(RANDOM_SEED))
"""Container arguments of the Evaluate job (steps/evaluate.py options)."""

EVALUATION_REPORT = "evaluation.json"
QUALITY_METRIC_PATH = "regression_metrics.rmse.value"
"""JSON path of the gated metric (lower is better) in the report steps/evaluate.py writes."""
VALIDATION_METRICS = ("rmse", "mae", "r2")
"""What train.py prints as ``validation:<name>=<value>;`` (the job's metric definitions)."""

SERVING_CODE_DIR = "/opt/ml/model/code"
"""Where the serving container finds inference.py: inside the model archive."""

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_MAX_RMSE = 70.0
"""Default of MaxRmse. The target spans 25-346 with a standard deviation of 77 (what
always predicting the mean scores); the reference model scores about 58 on the test split."""
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

PARAMETERS = ("processing_instance_type", "training_instance_type", "max_rmse")
"""The keyword arguments of ``build_pipeline`` a model's settings may give."""

_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_MAX_RMSE_LIMIT = 1000.0
"""Above the target's whole range (25-346): a larger MaxRmse would gate nothing."""


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
    max_rmse: float = DEFAULT_MAX_RMSE,
    **unknown: Any,
) -> Pipeline:
    """The pipeline as an SDK ``Pipeline``; ``.definition()`` gives its JSON.

    ``region`` picks the container image URIs. ``role_arn``, ``bucket`` and
    ``kms_key_arn`` default to the placeholders ``SageMakerPipeline`` replaces; step code
    is always referenced through ``placeholders.step_source`` (see ``step_sources``).
    ``processing_instance_type`` and ``training_instance_type`` (default ml.m5.large)
    and ``max_rmse`` (default 70.0, lower is better) set the defaults of the
    ProcessingInstanceType, TrainingInstanceType and MaxRmse parameters (an execution
    may override them). Nothing is uploaded and no AWS API is called. Raises
    ConfigurationError naming every invalid or unknown argument.
    """
    from constructs_lib._validate import Checks

    check = Checks("build_pipeline")
    check.text("pipeline_name", pipeline_name, _PIPELINE_NAME, "1-256 letters, digits or '-'")
    check.text(
        "model_package_group_name",
        model_package_group_name,
        _GROUP_NAME,
        "1-63 letters, digits or '-'",
    )
    check.text("region", region, _REGION, "an AWS region name such as eu-west-1")
    for prop, value in (
        ("processing_instance_type", processing_instance_type),
        ("training_instance_type", training_instance_type),
    ):
        check.text(prop, value, _INSTANCE_TYPE, "ml.<family>.<size>")
    for prop, value in (("role_arn", role_arn), ("bucket", bucket), ("kms_key_arn", kms_key_arn)):
        check.text(prop, value)
    check.number("max_rmse", max_rmse, 0, _MAX_RMSE_LIMIT, low_open=True)
    for name, value in sorted(unknown.items()):
        check.fail(name, value, f"no such parameter; known: {', '.join(PARAMETERS)}")
    check.done()

    prepare_sdk_environment(region)
    with sdk_session():
        from pipelines.diabetes_regressor import _definition

        return _definition.build(
            pipeline_name=pipeline_name,
            model_package_group_name=model_package_group_name,
            region=region,
            role_arn=role_arn,
            bucket=bucket,
            kms_key_arn=kms_key_arn,
            processing_instance_type=processing_instance_type,
            training_instance_type=training_instance_type,
            max_rmse=float(max_rmse),
        )


def step_sources(build_dir: Path) -> dict[str, Path]:
    """Step-code placeholder name -> local file, for every ``step_source`` the pipeline uses.

    Scripts are returned where they are; source archives are written into ``build_dir``
    (created if needed), reproducibly (``_offline.write_archive``).
    """
    sources = {name: STEPS_DIR / script for name, script in SCRIPT_SOURCES.items()}
    build_dir.mkdir(parents=True, exist_ok=True)
    for name, (archive, files) in _ARCHIVE_SOURCES.items():
        sources[name] = write_archive(build_dir / archive, [STEPS_DIR / f for f in files])
    return dict(sorted(sources.items()))
