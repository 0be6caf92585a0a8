"""The diabetes regressor pipeline: its public API, settings and step code.

A regression model on scikit-learn's bundled diabetes dataset (442 patients, 10
features, target: disease progression one year later). The package has the interface
of every pipeline package (see ``pipelines``): ``build_pipeline`` returns a SageMaker
Python SDK v3 ``Pipeline`` whose ``.definition()`` is the same JSON text on every call,
is built without network access, and carries only placeholders
(`constructs_lib.placeholders`) where deploy-time values go; ``step_sources`` maps each
step-code placeholder name to the local file or folder the construct uploads.

Steps (names are constants of ``pipelines._offline``)::

    Preprocess ─┬─> Train ──> Evaluate ──> ModelQualityBaseline ─┬─> QualityGate
                └─> DataQualityBaseline ─────────────────────────┘
    QualityGate ─┬─ rmse <= MaxRmse ──> RegisterModel
                 └─ otherwise ──> ModelQualityTooLow (Fail)

    (With ``clarify``, ClarifyModel and the Clarify baselines join, as in
    ``pipelines.tabular_classifier.pipeline``.)

Lower is better: the gate passes a model whose test rmse is at most ``MaxRmse``.

The training data: every ``*.csv`` under ``s3://<artifact bucket>/datasets/<pipeline name>/``
(the InputDataUri default; ``python -m pipelines.diabetes_regressor.dataset`` writes the
bundled data as one). How step code reaches each job and where the executions write:
``pipelines._sdk.ScikitLearnPipeline``.

Importing this module does not import the SageMaker SDK (a multi-second import);
``build_pipeline`` does, after preparing the environment for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constructs_lib import placeholders
from pipelines._offline import (
    DEFAULT_INSTANCE_TYPE,
    argument_checks,
    build_offline,
    check_clarify,
    unknown_arguments,
)
from pipelines._offline import step_sources as _step_sources

if TYPE_CHECKING:
    from sagemaker.mlops.workflow import Pipeline

STEPS_DIR = Path(__file__).resolve().parent / "steps"
"""Where the step scripts live (each also runs locally; see their docstrings)."""

MAX_RMSE = "MaxRmse"
"""The pipeline parameter the quality gate compares the test rmse with."""

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
"""The label column (disease progression); Clarify's label too."""
RANDOM_SEED = 42
MODEL_QUALITY_PROBLEM_TYPE = "Regression"
"""The problem type of the model-quality baseline (Model Monitor's)."""
CLARIFY_PREDICTOR = {"label": "predictions"}
"""Where Clarify finds the predicted values in a response (inference.py)."""

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

QUALITY_METRIC_PATH = "regression_metrics.rmse.value"
"""JSON path of the gated metric (lower is better) in the report steps/evaluate.py writes."""
VALIDATION_METRICS = ("rmse", "mae", "r2")
"""What train.py prints as ``validation:<name>=<value>;`` (the job's metric definitions)."""

DEFAULT_MAX_RMSE = 70.0
"""Default of MaxRmse. The target spans 25-346 with a standard deviation of 77 (what
always predicting the mean scores); the reference model scores about 58 on the test split."""
_MAX_RMSE_LIMIT = 1000.0
"""Above the target's whole range (25-346): a larger MaxRmse would gate nothing."""

PARAMETERS = (
    "processing_instance_type",
    "training_instance_type",
    "max_rmse",
    "subnet_ids",
    "security_group_ids",
    "clarify",
)
"""The keyword arguments of ``build_pipeline`` a model's settings may give."""


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
    subnet_ids: Sequence[str] = (),
    security_group_ids: Sequence[str] = (),
    clarify: Mapping[str, Any] | None = None,
    **unknown: Any,
) -> Pipeline:
    """The pipeline as an SDK ``Pipeline``; ``.definition()`` gives its JSON.

    ``region`` picks the container image URIs. ``role_arn``, ``bucket`` and
    ``kms_key_arn`` default to the placeholders ``SageMakerPipeline`` replaces; step code
    is always referenced through ``placeholders.step_source`` (see ``step_sources``).
    ``processing_instance_type`` and ``training_instance_type`` (default ml.m5.large)
    and ``max_rmse`` (default 70.0, lower is better) set the defaults of the
    ProcessingInstanceType, TrainingInstanceType and MaxRmse parameters (an execution
    may override them). ``subnet_ids`` and ``security_group_ids`` (both or
    neither; default none) put every job in that VPC (each job is network-isolated
    either way, but for the Clarify jobs, which host the model through the SageMaker
    API). ``clarify`` (default none) adds bias and/or explainability baselines
    (``_offline.check_clarify``; the label is ``TARGET_COLUMN``, facets name
    ``FEATURES``). Nothing is uploaded and no AWS API is called. Raises
    ConfigurationError naming every invalid or unknown argument.
    """
    arguments = {
        "pipeline_name": pipeline_name,
        "model_package_group_name": model_package_group_name,
        "region": region,
        "role_arn": role_arn,
        "bucket": bucket,
        "kms_key_arn": kms_key_arn,
        "processing_instance_type": processing_instance_type,
        "training_instance_type": training_instance_type,
    }
    check = argument_checks(
        **arguments, subnet_ids=subnet_ids, security_group_ids=security_group_ids
    )
    check.number("max_rmse", max_rmse, 0, _MAX_RMSE_LIMIT, low_open=True)
    check_clarify(check, clarify, FEATURES)
    unknown_arguments(check, unknown, PARAMETERS)
    check.done()
    pipeline: Pipeline = build_offline(
        "pipelines.diabetes_regressor._definition",
        **arguments,
        subnet_ids=tuple(subnet_ids),
        security_group_ids=tuple(security_group_ids),
        max_rmse=float(max_rmse),
        clarify=clarify,
    )
    return pipeline


def step_sources(build_dir: Path) -> dict[str, Path]:
    """Step-code placeholder name -> local file or folder, for every ``step_source`` the
    pipeline uses, written into ``build_dir`` (created if needed) reproducibly: the same
    bytes for the same code, and files already right are not rewritten
    (``_offline.step_sources``)."""
    return _step_sources(build_dir, STEPS_DIR)
