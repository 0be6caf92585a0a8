"""What every pipeline package shares outside the SDK (importing this never imports it).

* the names and defaults every package's pipeline uses (step and parameter names, the
  registry's content types and instance types...);
* ``argument_checks`` and ``build_offline``: ``build_pipeline``'s common arguments
  checked, and the package's definition built with them;
* ``prepare_sdk_environment`` and ``sdk_session``: keep the SageMaker SDK from reaching
  for credentials or an account, and quiet while it builds a definition;
* ``step_sources``: the step code to stage, each script with the shared modules of
  ``pipelines/_steps`` beside it, reproducibly (``write_folder``, ``write_archive``: same
  bytes for the same files), so the construct's asset hashes change only with the code.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs_lib._validate import Checks

# Step names.
PREPROCESS = "Preprocess"
TRAIN = "Train"
MODEL_ARTIFACTS_DIR = "training"
"""Training jobs write `<pipeline prefix>/training/<job>/output/model.tar.gz`."""
EVALUATE = "Evaluate"
DATA_QUALITY_BASELINE = "DataQualityBaseline"
MODEL_QUALITY_BASELINE = "ModelQualityBaseline"
CLARIFY_MODEL = "ClarifyModel"
"""The Model step (CreateModel) the ClarifyCheck steps host their shadow endpoint from."""
MODEL_BIAS_BASELINE = "ModelBiasBaseline"
MODEL_EXPLAINABILITY_BASELINE = "ModelExplainabilityBaseline"
QUALITY_GATE = "QualityGate"
REGISTER_MODEL = "RegisterModel"
QUALITY_FAILED = "ModelQualityTooLow"

# Pipeline parameter names (each package adds the one its quality gate compares with).
INPUT_DATA_URI = "InputDataUri"
PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
MODEL_APPROVAL_STATUS = "ModelApprovalStatus"

EVALUATION_REPORT = "evaluation.json"
"""The report steps/evaluate.py writes (the quality gate's property file)."""
SERVING_CODE_DIR = "/opt/ml/model/code"
"""Where the serving container finds inference.py: inside the model archive."""

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_APPROVAL_STATUS = "PendingManualApproval"
CACHE_EXPIRE_AFTER = "P30D"
CONTENT_TYPES = ("text/csv", "application/json")
RESPONSE_TYPES = ("application/json",)
INFERENCE_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge")
TRANSFORM_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge")

# Step code. A processing job runs /opt/ml/processing/input/code/<script> from a folder
# holding the script and step_common.py; the training toolkit wants script-mode code as
# one tar.gz, which also carries the serving code train.py copies into the model archive.
SCRIPT_SOURCES = {"preprocess": "preprocess.py", "evaluate": "evaluate.py"}
"""Step-source name -> the script a processing job runs."""
TRAIN_ARCHIVE = "train_sourcedir.tar.gz"
SHARED_STEPS_DIR = Path(__file__).resolve().parent / "_steps"
"""The modules staged beside every package's step scripts."""
_STEP_COMMON = SHARED_STEPS_DIR / "step_common.py"
_STEP_SERVING = SHARED_STEPS_DIR / "step_serving.py"


BASELINE_STEPS = (
    DATA_QUALITY_BASELINE,
    MODEL_QUALITY_BASELINE,
    MODEL_BIAS_BASELINE,
    MODEL_EXPLAINABILITY_BASELINE,
)
SERVING_READS = (
    f"{MODEL_ARTIFACTS_DIR}/",
    f"{DATA_QUALITY_BASELINE}/",
    f"{MODEL_QUALITY_BASELINE}/",
)
"""What deploy accounts read of a pipeline's outputs, below `pipelines/<name>/`: model
artifacts and the baselines of the monitors the app deploys (data quality, model
quality); not the data splits, reports, predictions, code, or the bias and
explainability baselines, which no deploy account monitors with yet (add them here with
the monitors)."""

LABEL_COLUMN, PREDICTION_COLUMN, PROBABILITY_COLUMN = "label", "prediction", "probability"
"""Columns of Evaluate's predictions.csv (as ``_steps/step_common`` writes it), which the
model-quality baseline job reads by name."""
CLARIFY_CONFIGS = {
    "bias": "bias/analysis_config.json",
    "explainability": "explainability/analysis_config.json",
}
"""Below Evaluate's clarify output: each Clarify check's analysis config (as
``_steps/step_common`` writes it)."""

# -- Clarify settings -----------------------------------------------------------------------

CLARIFY_KEYS = ("bias", "explainability")
BIAS_KEYS = ("label_values", "facets")
FACET_KEYS = ("name", "values", "threshold")
SHAP_KEYS = ("shap_baseline", "num_samples", "agg_method")
AGG_METHODS = ("mean_abs", "median", "mean_sq")
SHAP_DEFAULTS = {"shap_baseline": "mean", "num_samples": 100, "agg_method": "mean_abs"}
MAX_SHAP_SAMPLES = 10000
_ARGUMENT_LENGTH = 256
"""The most characters of one container argument (CreateProcessingJob)."""


def _scalars(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    )


def check_clarify(check: Checks, clarify: object, features: Sequence[str]) -> None:
    """Record what is wrong with ``build_pipeline``'s ``clarify`` (None: no Clarify
    baselines): ``{"bias": {"label_values": [...], "facets": [{"name": <feature>,
    "values": [...]} or {"name": <feature>, "threshold": <number>}]}, "explainability":
    {"shap_baseline": "mean" or rows of feature values, "num_samples": 1-10000,
    "agg_method": "mean_abs"|"median"|"mean_sq"}}``, either part optional (not both)."""
    if clarify is None:
        return
    if not isinstance(clarify, Mapping) or not clarify or set(clarify) - set(CLARIFY_KEYS):
        check.fail("clarify", clarify, "None or a mapping of bias and/or explainability")
        return
    bias = clarify.get("bias")
    if "bias" in clarify:
        if not isinstance(bias, Mapping) or set(bias) != set(BIAS_KEYS):
            check.fail("clarify.bias", bias, "a mapping of label_values and facets")
        else:
            if not _scalars(bias["label_values"]):
                check.fail(
                    "clarify.bias.label_values",
                    bias["label_values"],
                    "a non-empty list of label values (str or number) counted as the positive"
                    " outcome",
                )
            facets = bias["facets"]
            if not isinstance(facets, list | tuple) or not facets:
                check.fail("clarify.bias.facets", facets, "a non-empty list of facets")
                facets = []
            for i, facet in enumerate(facets):
                _check_facet(check, f"clarify.bias.facets[{i}]", facet, features)
    shap = clarify.get("explainability")
    if "explainability" in clarify:
        if not isinstance(shap, Mapping) or set(shap) - set(SHAP_KEYS):
            check.fail(
                "clarify.explainability", shap, f"a mapping of some of {', '.join(SHAP_KEYS)}"
            )
        else:
            shap = {**SHAP_DEFAULTS, **shap}
            baseline = shap["shap_baseline"]
            rows_ok = (
                isinstance(baseline, list | tuple)
                and 0 < len(baseline) <= 10
                and all(
                    isinstance(row, list | tuple)
                    and len(row) == len(features)
                    and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
                    for row in baseline
                )
            )
            if baseline != "mean" and not rows_ok:
                check.fail(
                    "clarify.explainability.shap_baseline",
                    baseline,
                    f"'mean' (the test features' mean) or 1 to 10 rows of {len(features)}"
                    " numbers (the features in order)",
                )
            check.integer(
                "clarify.explainability.num_samples", shap["num_samples"], 1, MAX_SHAP_SAMPLES
            )
            check.one_of("clarify.explainability.agg_method", shap["agg_method"], AGG_METHODS)


def _check_facet(check: Checks, prop: str, facet: object, features: Sequence[str]) -> None:
    if (
        not isinstance(facet, Mapping)
        or "name" not in facet
        or set(facet) - set(FACET_KEYS)
        or ("values" in facet) == ("threshold" in facet)
    ):
        check.fail(prop, facet, "a mapping of name and either values or threshold")
        return
    check.one_of(f"{prop}.name", facet["name"], list(features))
    if "values" in facet and not _scalars(facet["values"]):
        check.fail(f"{prop}.values", facet["values"], "a non-empty list of str or numbers")
    if "threshold" in facet:
        check.number(f"{prop}.threshold", facet["threshold"])


def clarify_job_settings(
    clarify: Mapping[str, Any], predictor: Mapping[str, str], instance_type: str
) -> dict[str, Any]:
    """What the Evaluate job writes the analysis configs from (``step_common.clarify_configs``):
    the checked ``clarify`` with the SHAP defaults, the model's response paths and the
    shadow endpoint's instance type."""
    settings: dict[str, Any] = {"predictor": dict(predictor), "instance_type": instance_type}
    if "bias" in clarify:
        settings["bias"] = clarify["bias"]
    if "explainability" in clarify:
        settings["explainability"] = {**SHAP_DEFAULTS, **clarify["explainability"]}
    return settings


def clarify_arguments(settings: Mapping[str, Any]) -> list[str]:
    """``--clarify`` and ``settings`` as JSON cut into container arguments (each at most
    256 characters; ``step_common.clarify_settings`` joins them)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return ["--clarify"] + [
        text[i : i + _ARGUMENT_LENGTH] for i in range(0, len(text), _ARGUMENT_LENGTH)
    ]


def data_prefix(pipeline_name: str) -> str:
    """Where a pipeline's training data lives in the build artifact bucket: its own
    `datasets/<pipeline name>/`, so models sharing a package each train on their data
    (and the pipeline's role may read that prefix only)."""
    return f"datasets/{pipeline_name}/"


_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


def argument_checks(
    *,
    pipeline_name: object,
    model_package_group_name: object,
    region: object,
    processing_instance_type: object,
    training_instance_type: object,
    role_arn: object,
    bucket: object,
    kms_key_arn: object,
    subnet_ids: object = (),
    security_group_ids: object = (),
) -> Checks:
    """``build_pipeline``'s common arguments checked; the package adds its own checks,
    then calls ``.done()`` (one ConfigurationError naming every problem)."""
    from constructs_lib._validate import Checks  # imports the CDK: only when building
    from constructs_lib.vpc_config import (
        MAX_SECURITY_GROUPS,
        MAX_SUBNETS,
        SECURITY_GROUP_ID,
        SUBNET_ID,
    )

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
    # The jobs' VPC: both lists or neither.
    for prop, value, other, pattern, most in (
        ("subnet_ids", subnet_ids, security_group_ids, SUBNET_ID, MAX_SUBNETS),
        (
            "security_group_ids",
            security_group_ids,
            subnet_ids,
            SECURITY_GROUP_ID,
            MAX_SECURITY_GROUPS,
        ),
    ):
        kind = pattern.pattern[1:].split("-")[0]
        if check.strings(prop, value, pattern, f"{kind}-<8 or 17 hex digits>"):
            ids = list(value)  # type: ignore[call-overload]
            if len(ids) > most or (not ids and other):
                check.fail(prop, ids, f"1 to {most} ids when the other VPC list is given, or none")
    return check


def unknown_arguments(check: Checks, unknown: dict[str, Any], known: tuple[str, ...]) -> None:
    """Record each argument ``build_pipeline`` does not take, naming those it does."""
    for name, value in sorted(unknown.items()):
        check.fail(name, value, f"no such parameter; known: {', '.join(known)}")


def build_offline(definition_module: str, **arguments: Any) -> Any:
    """``<definition_module>.build(**arguments)``: the package's SDK pipeline, its module
    imported (the SDK with it) once the environment is ready, built inside ``sdk_session``."""
    prepare_sdk_environment(arguments["region"])
    with sdk_session():
        return importlib.import_module(definition_module).build(**arguments)


def prepare_sdk_environment(region: str) -> None:
    """Settings the SDK reads at import and when jobs are defined.

    A region (one of its modules creates a boto3 client at import) and no IAM look-up of
    the role. ``setdefault``, so a caller's own settings win.
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")


@contextlib.contextmanager
def sdk_session() -> Iterator[None]:
    """Keep the SDK from reaching for credentials and from logging routine chatter.

    boto3 clients resolve credentials when they are created, and the SDK creates some the
    definition never uses (at import, and a local-mode session per processing step).
    With no credentials in the environment, botocore would ask the EC2 instance metadata
    service for them; that is disabled here. Under a PipelineSession the SDK also warns
    that no job is started and logs, per step and per ``definition()`` call, that job
    names are left out: expected, so records below ERROR are dropped. Both settings are
    process-wide and restored on exit, so callers on EC2 keep their credentials and
    their logging afterwards.
    """
    key = "AWS_EC2_METADATA_DISABLED"
    previous_imds = os.environ.get(key)
    previous_disable = logging.root.manager.disable
    os.environ[key] = "true"
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Running within a PipelineSession")
            yield
    finally:
        logging.disable(previous_disable)
        if previous_imds is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous_imds


def step_sources(build_dir: Path, steps_dir: Path) -> dict[str, Path]:
    """Step-source name -> what ``SageMakerPipeline`` stages, written under ``build_dir``.

    ``preprocess`` and ``evaluate``: a folder with the script (from ``steps_dir``) and
    ``step_common.py``, staged with its names kept; ``train``: ``train_sourcedir.tar.gz``
    with train.py and the code train.py puts in the model archive (inference.py,
    step_serving.py), and step_common.py.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = {
        name: write_folder(build_dir / name, [steps_dir / script, _STEP_COMMON])
        for name, script in SCRIPT_SOURCES.items()
    }
    sources["train"] = write_archive(
        build_dir / TRAIN_ARCHIVE,
        [steps_dir / "train.py", steps_dir / "inference.py", _STEP_COMMON, _STEP_SERVING],
    )
    return dict(sorted(sources.items()))


def write_folder(target: Path, files: list[Path]) -> Path:
    """Make ``target`` hold exactly ``files`` (flat, by name); a file whose bytes are
    already right is not rewritten, and anything else there is removed."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {path.name: path.read_bytes() for path in files}
    for present in target.iterdir():
        if present.name not in wanted:
            if present.is_dir():
                shutil.rmtree(present, ignore_errors=True)
            else:
                present.unlink(missing_ok=True)
    for name, content in wanted.items():
        _write_if_changed(target / name, content)
    return target


def write_archive(target: Path, files: list[Path]) -> Path:
    """Write a reproducible ``.tar.gz`` of ``files`` (flat, by name) to ``target``.

    Sorted entries, mtime 0, uid/gid 0, no name or timestamp in the gzip header. An
    archive whose bytes are already right is not rewritten.
    """
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for path in sorted(files, key=lambda p: p.name):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    _write_if_changed(target, raw.getvalue())
    return target


def _write_if_changed(target: Path, content: bytes) -> None:
    if not target.is_file() or target.read_bytes() != content:
        # Write outside the file's folder, then rename: a concurrent reader (or writer,
        # or a staged folder's listing) never sees half a file.
        with tempfile.NamedTemporaryFile(dir=target.parent.parent, delete=False) as tmp:
            tmp.write(content)
        Path(tmp.name).replace(target)
