"""The pipeline definition from ``build_pipeline``: structure, settings, offline, deterministic.

The definition is built once per module with every socket operation refused and
recorded, so "offline" is what is observed, not assumed. The timings are printed (run
with ``-s`` to see them) and only checked against a generous bound.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from constructs_lib import placeholders
from constructs_lib.errors import ConfigurationError
from pipelines import _offline as shared
from pipelines._offline import SHARED_STEPS_DIR
from pipelines.tabular_classifier import pipeline as tabular
from tests.support.definition_checks import check_api_shapes, check_schema, require_schema

from .local_run import LocalPipelineRun

NAME = "tabular-classifier"
GROUP = "tabular-classifier-models"
REGION = "eu-west-1"
PREFIX = f"s3://{placeholders.BUCKET_NAME}/pipelines/{NAME}"
JOB_STEPS = (shared.PREPROCESS, shared.TRAIN, shared.EVALUATE, shared.DATA_QUALITY_BASELINE)


@dataclass(frozen=True)
class Built:
    """One build: the SDK object, its rendered definition, timings, network attempts."""

    pipeline: Any
    text: str
    definition: dict[str, Any]
    build_seconds: float
    definition_seconds: float
    network_attempts: list[str]


def _refuse_network(monkeypatch: pytest.MonkeyPatch, attempts: list[str]) -> None:
    """Make every way of opening a connection (or resolving a name) fail, and record it."""

    def refuse(name: str) -> Any:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{name}{args[1:] if name.startswith('socket.') else args}")
            raise OSError(f"network access during the definition build: {name}")

        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))


COMMON = {"pipeline_name": NAME, "model_package_group_name": GROUP, "region": REGION}


@pytest.fixture(scope="module")
def built(local_pipeline_run_started: Any) -> Iterator[Built]:
    """Import the SDK (if not imported yet in this session), build and render, no network.

    Requesting ``local_pipeline_run_started`` first lets the step scripts run in other
    processes meanwhile.
    """
    attempts: list[str] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        _refuse_network(monkeypatch, attempts)
        start = time.perf_counter()
        pipeline = tabular.build_pipeline(**COMMON)
        built_at = time.perf_counter()
        text = pipeline.definition()
        done = time.perf_counter()
    result = Built(
        pipeline=pipeline,
        text=text,
        definition=json.loads(text),
        build_seconds=built_at - start,
        definition_seconds=done - built_at,
        network_attempts=attempts,
    )
    print(
        f"\n[tabular_classifier] build_pipeline (incl. first SDK import): "
        f"{result.build_seconds:.2f} s, definition(): {result.definition_seconds:.2f} s"
    )
    yield result


def steps_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step, the ones nested in the condition included."""
    found = {}
    for step in definition["Steps"]:
        found[step["Name"]] = step
        for key in ("IfSteps", "ElseSteps"):
            for nested in step["Arguments"].get(key, []):
                found[nested["Name"]] = nested
    return found


def referenced_steps(value: Any) -> set[str]:
    """Names of the steps whose properties ``value`` reads (``Get: Steps.<name>...``)."""
    text = json.dumps(value)
    return set(re.findall(r'"Get": "Steps\.([A-Za-z0-9-]+)\.', text))


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# -- building ---------------------------------------------------------------------------


def test_builds_without_any_network_access(built: Built):
    assert built.network_attempts == []


def test_definition_is_deterministic_and_the_app_cache_renames_it_exactly(built: Built):
    """The build the app caches (once per package and arguments, with stand-in names that
    each model's names replace; made by another process when the cache already holds it,
    else here) gives byte for byte what this process's direct build gives."""
    from stacks import build as app_build

    with pytest.MonkeyPatch.context() as monkeypatch:
        attempts: list[str] = []
        _refuse_network(monkeypatch, attempts)
        cached = app_build.cached_definition(
            tabular,
            app_build.BUILD_DIR / "definitions" / "tabular_classifier",
            pipeline_name=COMMON["pipeline_name"],
            model_package_group_name=COMMON["model_package_group_name"],
            region=COMMON["region"],
        )
    assert json.dumps(cached) == json.dumps(built.definition)
    assert attempts == []


def test_build_time_is_reported_and_sane(built: Built):
    # Measured on a shared 2-core machine: first build ~8-11 s (mostly the SDK import),
    # definition() ~2 s. Only a runaway (e.g. network timeouts) should fail this.
    assert built.build_seconds < 120
    assert built.definition_seconds < 60


@pytest.mark.parametrize("previous", [None, "false"])
def test_sdk_session_settings_last_only_while_building(monkeypatch, recwarn, previous):
    import logging
    import warnings

    from pipelines._offline import sdk_session

    if previous is None:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    else:
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", previous)
    disabled_before = logging.root.manager.disable
    with sdk_session():
        assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
        assert logging.root.manager.disable == logging.WARNING
        # Expected while defining: the SDK's "no job is started" warning.
        warnings.warn("Running within a PipelineSession, there will be No Wait", stacklevel=1)
    assert not [w for w in recwarn if "PipelineSession" in str(w.message)]
    assert os.environ.get("AWS_EC2_METADATA_DISABLED") == previous
    assert logging.root.manager.disable == disabled_before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pipeline_name": "bad_name"}, "build_pipeline pipeline_name: got 'bad_name'"),
        ({"model_package_group_name": "x" * 64}, "build_pipeline model_package_group_name"),
        ({"region": "Europe"}, "build_pipeline region: got 'Europe'"),
        ({"processing_instance_type": "m5.large"}, "processing_instance_type: got 'm5.large'"),
        ({"training_instance_type": ""}, "training_instance_type: got ''"),
        ({"model_quality_threshold": 1.5}, "model_quality_threshold: got 1.5"),
        ({"model_quality_threshold": True}, "model_quality_threshold: got a bool True"),
    ],
)
def test_invalid_arguments_are_configuration_errors(kwargs, message):
    args = {**COMMON, **kwargs}
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        tabular.build_pipeline(**args)


# -- structure ----------------------------------------------------------------------------


def test_steps_types_and_branches(built: Built):
    steps = built.definition["Steps"]
    assert [(s["Name"], s["Type"]) for s in steps] == [
        ("Preprocess", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("DataQualityBaseline", "Processing"),
        ("ModelQualityBaseline", "QualityCheck"),
        ("QualityGate", "Condition"),
    ]
    gate = steps[-1]["Arguments"]
    assert [(s["Name"], s["Type"]) for s in gate["IfSteps"]] == [("RegisterModel", "RegisterModel")]
    assert [(s["Name"], s["Type"]) for s in gate["ElseSteps"]] == [("ModelQualityTooLow", "Fail")]


def test_dependencies(built: Built):
    steps = steps_by_name(built.definition)
    gate = steps["QualityGate"]
    assert referenced_steps(steps["Preprocess"]) == set()
    assert referenced_steps(steps["Train"]) == {"Preprocess"}
    assert referenced_steps(steps["Evaluate"]) == {"Preprocess", "Train"}
    assert referenced_steps(steps["DataQualityBaseline"]) == {"Preprocess"}
    assert referenced_steps(gate["Arguments"]["Conditions"]) == {"Evaluate"}
    assert referenced_steps(steps["ModelQualityBaseline"]) == {"Evaluate"}
    assert gate["DependsOn"] == ["DataQualityBaseline", "ModelQualityBaseline"]
    assert referenced_steps(steps["RegisterModel"]) == {
        "Train",
        "Evaluate",
        "DataQualityBaseline",
        "ModelQualityBaseline",
    }
    assert referenced_steps(steps["ModelQualityTooLow"]) == {"Evaluate"}


def test_parameters_and_defaults(built: Built):
    assert built.definition["Parameters"] == [
        {
            "Name": "InputDataUri",
            "Type": "String",
            "DefaultValue": f"s3://{placeholders.BUCKET_NAME}/datasets/{NAME}/",
        },
        {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        {"Name": "ModelQualityThreshold", "Type": "Float", "DefaultValue": 0.9},
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
    ]
    steps = steps_by_name(built.definition)
    for name in ("Preprocess", "Evaluate", "DataQualityBaseline"):
        cluster = steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert steps["Train"]["Arguments"]["ResourceConfig"]["InstanceType"] == {
        "Get": "Parameters.TrainingInstanceType"
    }
    data = steps["Preprocess"]["Arguments"]["ProcessingInputs"][1]
    assert data["S3Input"]["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    assert steps["RegisterModel"]["Arguments"]["ModelApprovalStatus"] == {
        "Get": "Parameters.ModelApprovalStatus"
    }


def test_parameter_defaults_can_be_set(built: Built, monkeypatch: pytest.MonkeyPatch):
    from pipelines._sdk import ScikitLearnPipeline

    # Stop after the parameters are made (the steps are what is slow to build).
    monkeypatch.setattr(ScikitLearnPipeline, "pipeline", lambda builder, group: builder)
    builder = tabular.build_pipeline(
        **COMMON,
        processing_instance_type="ml.c5.xlarge",
        training_instance_type="ml.m5.2xlarge",
        model_quality_threshold=1,
    )
    assert builder.processing_instance_type.default_value == "ml.c5.xlarge"
    assert builder.training_instance_type.default_value == "ml.m5.2xlarge"
    assert builder.threshold.default_value == 1.0


def test_every_job_step_caches_and_retries(built: Built):
    steps = steps_by_name(built.definition)
    for name in JOB_STEPS:
        step = steps[name]
        assert step["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}, name
        policies = {tuple(p["ExceptionType"]): p for p in step["RetryPolicies"]}
        assert set(policies) == {
            ("Step.SERVICE_FAULT", "Step.THROTTLING"),
            ("SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"),
        }, name
        for policy in policies.values():
            assert policy["MaxAttempts"] == 5 and policy["BackoffRate"] == 2.0, name
            assert policy["IntervalSeconds"] >= 10, name
    register = steps["RegisterModel"]
    assert [p["ExceptionType"] for p in register["RetryPolicies"]] == [
        ["Step.SERVICE_FAULT", "Step.THROTTLING"]
    ]


def test_jobs_are_encrypted_bounded_and_use_the_pinned_images(built: Built):
    steps = steps_by_name(built.definition)
    sklearn = f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:{tabular.SKLEARN_FRAMEWORK_VERSION}-cpu-py3"
    for name in ("Preprocess", "Evaluate", "DataQualityBaseline"):
        args = steps[name]["Arguments"]
        assert (
            args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"]
            == placeholders.KMS_KEY_ARN
        )
        assert args["ProcessingOutputConfig"]["KmsKeyId"] == placeholders.KMS_KEY_ARN
        assert args["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    train = steps["Train"]["Arguments"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == placeholders.KMS_KEY_ARN
    assert train["OutputDataConfig"]["KmsKeyId"] == placeholders.KMS_KEY_ARN
    assert train["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert train["AlgorithmSpecification"]["TrainingImage"] == sklearn
    assert steps["Preprocess"]["Arguments"]["AppSpecification"]["ImageUri"] == sklearn
    assert steps["Evaluate"]["Arguments"]["AppSpecification"]["ImageUri"] == sklearn
    analyzer = steps["DataQualityBaseline"]["Arguments"]["AppSpecification"]
    assert analyzer == {
        "ImageUri": f"468650794304.dkr.ecr.{REGION}.amazonaws.com/sagemaker-model-monitor-analyzer"
    }
    container = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == sklearn


# -- S3 layout and placeholders ------------------------------------------------------------


def test_outputs_are_per_execution_under_the_pipeline_prefix(built: Built):
    steps = steps_by_name(built.definition)
    expected = {
        "Preprocess": ["train", "validation", "test", "baseline"],
        "Evaluate": ["evaluation", "predictions"],
        "DataQualityBaseline": ["baseline"],
        "ModelQualityBaseline": ["quality_check_output"],
    }
    for name, outputs in expected.items():
        config = steps[name]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        assert [o["OutputName"] for o in config] == outputs
        for output in config:
            assert output["S3Output"]["S3Uri"] == {
                "Std:Join": {
                    "On": "/",
                    "Values": [
                        PREFIX,
                        {"Get": "Execution.PipelineExecutionId"},
                        name,
                        "baseline" if name == "ModelQualityBaseline" else output["OutputName"],
                    ],
                }
            }
    assert steps["Train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"] == f"{PREFIX}/training"


def test_model_package_records_metrics_and_baseline(built: Built):
    args = steps_by_name(built.definition)["RegisterModel"]["Arguments"]

    def file_in(step: str, output: str, name: str) -> dict[str, Any]:
        get = f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"
        return {
            "ContentType": "application/json",
            "S3Uri": {"Std:Join": {"On": "/", "Values": [{"Get": get}, name]}},
        }

    baseline = {
        "Statistics": file_in("DataQualityBaseline", "baseline", "statistics.json"),
        "Constraints": file_in("DataQualityBaseline", "baseline", "constraints.json"),
    }
    assert args["ModelPackageGroupName"] == GROUP

    def check(prop: str) -> dict[str, Any]:
        return {"ContentType": "application/json", "S3Uri": {"Get": f"Steps.{prop}"}}

    # The gate's report (what the approval function reads) and the model-quality
    # constraints (what ModelQualityMonitor reads: its BASELINE_FIELDS).
    assert args["ModelMetrics"]["ModelQuality"] == {
        "Statistics": file_in("Evaluate", "evaluation", "evaluation.json"),
        "Constraints": check("ModelQualityBaseline.CalculatedBaselineConstraints"),
    }
    assert args["ModelMetrics"]["ModelDataQuality"] == baseline
    assert args["ModelMetrics"]["Bias"] == args["ModelMetrics"]["Explainability"] == {}
    assert args["DriftCheckBaselines"] == {
        "ModelDataQuality": baseline,
        "ModelQuality": {
            "Statistics": check("ModelQualityBaseline.BaselineUsedForDriftCheckStatistics"),
            "Constraints": check("ModelQualityBaseline.BaselineUsedForDriftCheckConstraints"),
        },
    }
    spec = args["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert spec["SupportedResponseMIMETypes"] == ["application/json"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == list(shared.INFERENCE_INSTANCE_TYPES)
    assert spec["SupportedTransformInstanceTypes"] == list(shared.TRANSFORM_INSTANCE_TYPES)
    (container,) = spec["Containers"]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_REGION": REGION,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    }


def test_only_placeholders_for_role_bucket_key_and_code(built: Built, tmp_path: Path):
    values = list(strings(built.definition))
    step_source = re.compile(r"^s3://cdk-placeholder-step-source/")
    for value in values:
        if value.startswith("s3://"):
            assert value.startswith(f"s3://{placeholders.BUCKET_NAME}/") or step_source.match(
                value
            ), value
        if value.startswith("arn:"):
            assert value in (placeholders.ROLE_ARN, placeholders.KMS_KEY_ARN), value
    # The only account ids are the placeholders' and the AWS-owned image registries'.
    accounts = set(re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", built.text))
    assert accounts == {"000000000000", "141502667606", "468650794304"}
    for step in steps_by_name(built.definition).values():
        if step["Type"] in ("Processing", "Training"):
            assert step["Arguments"]["RoleArn"] == placeholders.ROLE_ARN
    used = {m.group(1) for m in placeholders.STEP_SOURCE_PATTERN.finditer(built.text)}
    assert used == set(tabular.step_sources(tmp_path))


# -- quality gate -----------------------------------------------------------------------------


def resolve(document: Any, path: str) -> Any:
    for key in path.split("."):
        document = document[key]
    return document


def test_quality_gate_reads_the_metric_the_evaluate_script_writes(
    built: Built, local_pipeline_run: LocalPipelineRun
):
    steps = steps_by_name(built.definition)
    (condition,) = steps["QualityGate"]["Arguments"]["Conditions"]
    json_get = condition["LeftValue"]["Std:JsonGet"]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["RightValue"] == {"Get": "Parameters.ModelQualityThreshold"}
    assert json_get["PropertyFile"] == {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}
    assert json_get["Path"] == tabular.QUALITY_METRIC_PATH

    # The property file is the evaluate step's output where the script writes its report.
    evaluate = steps["Evaluate"]
    assert evaluate["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": "evaluation.json",
        }
    ]
    output, _predictions = evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    from pipelines.tabular_classifier.steps import evaluate as evaluate_script

    assert Path(output["S3Output"]["LocalPath"]) == evaluate_script.parse_args([]).output_dir
    assert evaluate_script.REPORT_FILE == "evaluation.json"

    # ... and the path resolves, in a real report, to a number that passes the default gate.
    value = resolve(json.loads(local_pipeline_run.evaluation_json.read_text()), json_get["Path"])
    assert isinstance(value, float) and value >= 0.9


def test_failure_message_carries_the_metric_and_the_threshold(built: Built):
    steps = steps_by_name(built.definition)
    (condition,) = steps["QualityGate"]["Arguments"]["Conditions"]
    join = steps["ModelQualityTooLow"]["Arguments"]["ErrorMessage"]["Std:Join"]
    assert join["On"] == " "
    assert condition["LeftValue"] in join["Values"]
    assert {"Get": "Parameters.ModelQualityThreshold"} in join["Values"]
    assert any("Model quality too low" in v for v in join["Values"] if isinstance(v, str))


# -- how code reaches each step -----------------------------------------------------------------


def test_step_code_locations(built: Built, local_pipeline_run: LocalPipelineRun, tmp_path: Path):
    steps = steps_by_name(built.definition)
    for name, source in (("Preprocess", "preprocess"), ("Evaluate", "evaluate")):
        code = steps[name]["Arguments"]["ProcessingInputs"][0]
        assert code["InputName"] == "code"
        assert code["S3Input"]["S3Uri"] == placeholders.step_source(source)
        assert code["S3Input"]["LocalPath"] == "/opt/ml/processing/input/code"

    train = steps["Train"]["Arguments"]
    hyperparameters = train["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == "train.py"
    # Network isolation: the archive comes as the `code` channel, not from S3.
    assert hyperparameters["sagemaker_submit_directory"] == (
        "/opt/ml/input/data/code/train_sourcedir.tar.gz"
    )
    (channel,) = [c for c in train["InputDataConfig"] if c["ChannelName"] == "code"]
    assert channel["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": placeholders.step_source("train"),
        "S3DataDistributionType": "FullyReplicated",
    }
    assert Path(hyperparameters["sagemaker_submit_directory"]).name == shared.TRAIN_ARCHIVE
    sources = tabular.step_sources(tmp_path)
    with tarfile.open(sources["train"]) as tar:
        assert sorted(tar.getnames()) == [
            "inference.py",
            "step_common.py",
            "step_serving.py",
            "train.py",
        ]

    # Serving code: in the model archive, where the package's environment points.
    env = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][0][
        "Environment"
    ]
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    with tarfile.open(local_pipeline_run.model_tar) as tar:
        assert f"code/{env['SAGEMAKER_PROGRAM']}" in tar.getnames()


def test_jobs_get_the_arguments_the_local_run_used(built: Built):
    steps = steps_by_name(built.definition)
    assert steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"] == list(
        tabular.PREPROCESS_ARGUMENTS
    )
    assert steps["Evaluate"]["Arguments"]["AppSpecification"]["ContainerArguments"] == list(
        tabular.EVALUATE_ARGUMENTS
    )
    hyperparameters = steps["Train"]["Arguments"]["HyperParameters"]
    own = {k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    assert own == {k: str(v) for k, v in tabular.TRAIN_HYPERPARAMETERS.items()}
    from pipelines.tabular_classifier.steps import preprocess

    data = steps["Preprocess"]["Arguments"]["ProcessingInputs"][1]["S3Input"]["LocalPath"]
    assert Path(data) == preprocess.parse_args([]).input_dir
    outputs = steps["Preprocess"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    out_dir = preprocess.parse_args([]).output_dir
    assert {o["S3Output"]["LocalPath"] for o in outputs} == {
        str(out_dir / o["OutputName"]) for o in outputs
    }


def test_processing_jobs_run_their_script_by_its_own_name(built: Built):
    """SageMakerPipeline stages a step source under its file name, so the entrypoint is
    the script's natural path in the code input."""
    steps = steps_by_name(built.definition)
    for name, source in (("Preprocess", "preprocess"), ("Evaluate", "evaluate")):
        args = steps[name]["Arguments"]
        code = args["ProcessingInputs"][0]["S3Input"]
        script = shared.SCRIPT_SOURCES[source]
        assert args["AppSpecification"]["ContainerEntrypoint"] == [
            "python3",
            f"{code['LocalPath']}/{script}",
        ]
        assert (tabular.STEPS_DIR / script).is_file()


def test_baseline_job_is_what_the_sdk_model_monitor_would_run(built: Built):
    from sagemaker.core.model_monitor.dataset_format import DatasetFormat
    from sagemaker.core.model_monitor.model_monitoring import ModelMonitor

    args = steps_by_name(built.definition)["DataQualityBaseline"]["Arguments"]
    (dataset,) = args["ProcessingInputs"]
    (output,) = args["ProcessingOutputConfig"]["Outputs"]
    assert dataset["S3Input"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"
    }
    assert args["Environment"] == ModelMonitor._generate_env_map(
        env=None,
        dataset_format=DatasetFormat.csv(header=True),
        output_path=output["S3Output"]["LocalPath"],
        enable_cloudwatch_metrics=False,
        dataset_source_container_path=dataset["S3Input"]["LocalPath"],
    )


# -- step sources -------------------------------------------------------------------------------


def test_step_sources_are_script_folders_and_a_reproducible_archive(tmp_path: Path):
    first = tabular.step_sources(tmp_path / "a")
    assert sorted(first) == ["evaluate", "preprocess", "train"]
    for name in ("preprocess", "evaluate"):
        folder = first[name]
        assert folder == tmp_path / "a" / name
        assert sorted(p.name for p in folder.iterdir()) == [f"{name}.py", "step_common.py"]
        assert (folder / f"{name}.py").read_bytes() == (
            tabular.STEPS_DIR / f"{name}.py"
        ).read_bytes()
        assert (folder / "step_common.py").read_bytes() == (
            SHARED_STEPS_DIR / "step_common.py"
        ).read_bytes()
    archive = first["train"]
    assert archive.parent == tmp_path / "a" and archive.name.endswith(".tar.gz")

    mtimes = [p.stat().st_mtime_ns for p in (archive, first["preprocess"] / "preprocess.py")]
    (first["evaluate"] / "__pycache__").mkdir()  # left by a local run: removed
    time.sleep(0.01)
    second = tabular.step_sources(tmp_path / "a")
    assert second == first  # unchanged: not rewritten
    assert [
        p.stat().st_mtime_ns for p in (archive, first["preprocess"] / "preprocess.py")
    ] == mtimes
    assert not (first["evaluate"] / "__pycache__").exists()
    assert tabular.step_sources(tmp_path / "b")["train"].read_bytes() == archive.read_bytes()

    data = archive.read_bytes()
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime 0
    homes = {"train.py": tabular.STEPS_DIR, "inference.py": tabular.STEPS_DIR}
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "inference.py",
            "step_common.py",
            "step_serving.py",
            "train.py",
        ]
        for member in members:
            assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
                0,
                0,
                0,
                "",
                "",
            )
            content = tar.extractfile(member)
            assert content is not None
            home = homes.get(member.name, SHARED_STEPS_DIR)
            assert content.read() == (home / member.name).read_bytes()


def test_archive_bytes_change_only_with_content(tmp_path: Path):
    from pipelines._offline import write_archive as _write_archive

    source = tmp_path / "src"
    source.mkdir()
    (source / "b.py").write_text("print('b')\n")
    (source / "a.py").write_text("print('a')\n")
    one = _write_archive(tmp_path / "one.tar.gz", [source / "b.py", source / "a.py"]).read_bytes()
    (source / "a.py").touch()  # new mtime, same content
    two = _write_archive(tmp_path / "two.tar.gz", [source / "a.py", source / "b.py"]).read_bytes()
    assert one == two
    (source / "a.py").write_text("print('A')\n")
    assert (
        _write_archive(tmp_path / "three.tar.gz", [source / "a.py", source / "b.py"]).read_bytes()
        != one
    )


# -- external contracts -------------------------------------------------------------------------


def test_step_arguments_are_valid_api_requests(built: Built):
    assert check_api_shapes(built.definition) == []


# Where the public pipeline-definition schema (commit b4012b0) is behind the SDK and the
# service, beyond the four allowances check_schema already makes. Each is what SDK v3
# emits for a feature this pipeline needs; nothing else may fail the schema.
def test_definition_matches_public_schema(built: Built):
    """Only the allowances `check_schema` documents (DESIGN's lags and SCHEMA_DEFECTS)."""
    assert check_schema(built.definition, require_schema()) == []
