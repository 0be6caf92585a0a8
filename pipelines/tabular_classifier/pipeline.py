"""The tabular binary classifier pipeline: its public API, settings and step code.

``build_pipeline`` returns a SageMaker Python SDK v3 ``Pipeline``; its ``.definition()``
is the same JSON text on every call, is built without network access, and carries only
placeholders (`constructs_lib.placeholders`) where deploy-time values go: the role, the
artifact bucket, the KMS key and the S3 URIs of step code. ``step_sources`` maps each
step-code placeholder name to the local file or folder the construct uploads.

Steps (names are constants of ``pipelines._offline``)::

    Preprocess ─┬─> Train ─┬─> Evaluate ─┬─> ModelQualityBaseline ─────────┐
                │          │             └─> ModelBiasBaseline* ───────────┤
                │          └─> ClarifyModel* ──> ModelExplainabilityBaseline* ┤
                └─> DataQualityBaseline ───────────────────────────────────┴─> QualityGate
    QualityGate ─┬─ metric >= threshold ──> RegisterModel
                 └─ otherwise ──> ModelQualityTooLow (Fail)

    * with ``clarify`` only (the Clarify steps need Evaluate's outputs and the model).

The training data: every ``*.csv`` under ``s3://<artifact bucket>/datasets/<pipeline name>/``
(the InputDataUri default). How step code reaches each job and where the executions
write: ``pipelines._sdk.ScikitLearnPipeline``.

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
)
from pipelines._offline import step_sources as _step_sources

if TYPE_CHECKING:
    from sagemaker.mlops.workflow import Pipeline

STEPS_DIR = Path(__file__).resolve().parent / "steps"
"""Where the step scripts live (each also runs locally; see their docstrings)."""

MODEL_QUALITY_THRESHOLD = "ModelQualityThreshold"
"""The pipeline parameter the quality gate compares the accuracy with."""

"""Key prefix in the artifact bucket that InputDataUri points at by default."""

SKLEARN_FRAMEWORK_VERSION = "1.9-0"
"""SageMaker scikit-learn container version for processing, training and serving."""

TARGET_COLUMN = "target"
"""The label column (1 benign, 0 malignant); Clarify's label too."""
_MEASURES = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)
FEATURES = (
    *(f"mean {m}" for m in _MEASURES),
    *(f"{m} error" for m in _MEASURES),
    *(f"worst {m}" for m in _MEASURES),
)
"""Feature columns in the order a request carries them (``load_breast_cancer``'s:
``mean radius`` ... ``worst fractal dimension``; the error features are ``<name> error``)."""
RANDOM_SEED = 42
MODEL_QUALITY_PROBLEM_TYPE = "BinaryClassification"
"""The problem type of the model-quality baseline (Model Monitor's)."""
CLARIFY_PREDICTOR = {"label": "predictions[*].label", "probability": "predictions[*].probability"}
"""Where Clarify finds the predicted labels and probabilities in a response (inference.py)."""

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

QUALITY_METRIC_PATH = "binary_classification_metrics.accuracy.value"
"""JSON path of the gated metric in the report steps/evaluate.py writes."""
VALIDATION_METRICS = ("accuracy", "auc")
"""What train.py prints as ``validation:<name>=<value>;`` (the job's metric definitions)."""

DEFAULT_QUALITY_THRESHOLD = 0.9


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
    subnet_ids: Sequence[str] = (),
    security_group_ids: Sequence[str] = (),
    clarify: Mapping[str, Any] | None = None,
) -> Pipeline:
    """The pipeline as an SDK ``Pipeline``; ``.definition()`` gives its JSON.

    ``region`` picks the container image URIs. ``role_arn``, ``bucket`` and
    ``kms_key_arn`` default to the placeholders ``SageMakerPipeline`` replaces; step code
    is always referenced through ``placeholders.step_source`` (see ``step_sources``).
    The last three set the defaults of the ProcessingInstanceType, TrainingInstanceType
    and ModelQualityThreshold parameters (an execution may override them).
    ``subnet_ids`` and ``security_group_ids`` (both or neither; default none) put every
    job in that VPC (each job is network-isolated either way, but for the Clarify jobs,
    which host the model through the SageMaker API). ``clarify`` (default none: no
    Clarify baselines) adds a bias and/or explainability baseline, computed by
    ClarifyCheck steps on the test split (``_offline.check_clarify`` says its shape;
    the label is ``TARGET_COLUMN``, the facets name ``FEATURES``). Nothing is uploaded and
    no AWS API is called. Raises ConfigurationError naming every invalid
    argument.
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
    # The gated metric is an accuracy.
    check.number("model_quality_threshold", model_quality_threshold, 0, 1)
    check_clarify(check, clarify, FEATURES)
    check.done()
    pipeline: Pipeline = build_offline(
        "pipelines.tabular_classifier._definition",
        **arguments,
        subnet_ids=tuple(subnet_ids),
        security_group_ids=tuple(security_group_ids),
        model_quality_threshold=float(model_quality_threshold),
        clarify=clarify,
    )
    return pipeline


def step_sources(build_dir: Path) -> dict[str, Path]:
    """Step-code placeholder name -> local file or folder, for every ``step_source`` the
    pipeline uses, written into ``build_dir`` (created if needed) reproducibly: the same
    bytes for the same code, and files already right are not rewritten
    (``_offline.step_sources``)."""
    return _step_sources(build_dir, STEPS_DIR)
