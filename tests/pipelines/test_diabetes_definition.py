"""The diabetes regressor's pipeline definition: a lower-is-better gate on the rmse the
evaluate script writes, the steps' code and arguments, the registered package, and valid
API requests. Built once per process, with the network refused (``diabetes_support``)."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from constructs_lib import placeholders
from constructs_lib.errors import ConfigurationError
from pipelines import diabetes_regressor
from pipelines._offline import CONTENT_TYPES
from pipelines.diabetes_regressor import pipeline as diabetes
from pipelines.diabetes_regressor.steps import evaluate, preprocess, train
from tests.support.definition_checks import check_api_shapes, check_schema, require_schema

from . import diabetes_support
from .diabetes_support import COMMON, GROUP, NAME, REGION, Built, DiabetesRun, steps_by_name

pytestmark = pytest.mark.xdist_group("diabetes-regressor")
diabetes_run_started = diabetes_support.diabetes_run_started
diabetes_run = diabetes_support.diabetes_run
diabetes_built = diabetes_support.diabetes_built

PREFIX = f"s3://{placeholders.BUCKET_NAME}/pipelines/{NAME}"
JOB_STEPS = ("Preprocess", "Train", "Evaluate", "DataQualityBaseline")


def test_package_interface():
    assert diabetes_regressor.data_prefix("diabetes-regressor") == "datasets/diabetes-regressor/"
    content_type, body = diabetes_regressor.SAMPLE_REQUEST
    assert content_type in CONTENT_TYPES
    assert body.endswith("\n") and len(body.split(",")) == len(diabetes.FEATURES)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_rmse": 0}, "build_pipeline max_rmse: got 0; allowed a number above 0 up to 1000"),
        ({"max_rmse": "65"}, "max_rmse: got a str '65'"),
        ({"max_rmse": True}, "max_rmse: got a bool True"),
        ({"training_instance_type": "m5.large"}, "training_instance_type: got 'm5.large'"),
        ({"pipeline_name": "bad_name"}, "build_pipeline pipeline_name: got 'bad_name'"),
        (
            {"model_quality_threshold": 0.9},
            "build_pipeline model_quality_threshold: got 0.9; allowed no such parameter; "
            "known: processing_instance_type, training_instance_type, max_rmse",
        ),
    ],
)
def test_invalid_parameters_are_configuration_errors(kwargs, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        diabetes_regressor.build_pipeline(**{**COMMON, **kwargs})


def test_builds_offline_into_valid_api_requests(diabetes_built: Built):
    assert diabetes_built.network_attempts == []
    assert check_api_shapes(diabetes_built.definition) == []
    assert check_schema(diabetes_built.definition, require_schema()) == []


def test_steps_parameters_and_policies(diabetes_built: Built):
    definition = diabetes_built.definition
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Preprocess", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("DataQualityBaseline", "Processing"),
        ("ModelQualityBaseline", "QualityCheck"),
        ("QualityGate", "Condition"),
    ]
    gate = definition["Steps"][-1]
    assert gate["DependsOn"] == ["DataQualityBaseline", "ModelQualityBaseline"]
    assert [s["Name"] for s in gate["Arguments"]["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in gate["Arguments"]["ElseSteps"]] == ["ModelQualityTooLow"]
    assert definition["Parameters"] == [
        {
            "Name": "InputDataUri",
            "Type": "String",
            "DefaultValue": f"s3://{placeholders.BUCKET_NAME}/datasets/diabetes-regressor/",
        },
        {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        {"Name": "MaxRmse", "Type": "Float", "DefaultValue": 70.0},
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
    ]
    steps = steps_by_name(definition)
    for name in JOB_STEPS:
        assert steps[name]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}, name
        assert {tuple(p["ExceptionType"]) for p in steps[name]["RetryPolicies"]} == {
            ("Step.SERVICE_FAULT", "Step.THROTTLING"),
            ("SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"),
        }, name
    assert [p["ExceptionType"] for p in steps["RegisterModel"]["RetryPolicies"]] == [
        ["Step.SERVICE_FAULT", "Step.THROTTLING"]
    ]


def resolve(document: Any, path: str) -> Any:
    for key in path.split("."):
        document = document[key]
    return document


def test_gate_registers_when_rmse_is_at_most_max_rmse(
    diabetes_built: Built, diabetes_run: DiabetesRun
):
    steps = steps_by_name(diabetes_built.definition)
    (condition,) = steps["QualityGate"]["Arguments"]["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"  # lower is better
    assert condition["RightValue"] == {"Get": "Parameters.MaxRmse"}
    json_get = condition["LeftValue"]["Std:JsonGet"]
    assert json_get == {
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
        "Path": "regression_metrics.rmse.value",
    }
    # The property file is the evaluate output where the script writes its report ...
    assert steps["Evaluate"]["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": evaluate.REPORT_FILE,
        }
    ]
    output, _predictions = steps["Evaluate"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "evaluation"
    assert Path(output["S3Output"]["LocalPath"]) == evaluate.parse_args([]).output_dir
    # ... and the path resolves in the real report to a number that passes the default.
    value = resolve(json.loads(diabetes_run.evaluation_json.read_text()), json_get["Path"])
    assert isinstance(value, float) and value <= diabetes.DEFAULT_MAX_RMSE

    join = steps["ModelQualityTooLow"]["Arguments"]["ErrorMessage"]["Std:Join"]
    assert join["Values"] == [
        "Model quality too low: regression_metrics.rmse.value =",
        condition["LeftValue"],
        "is above MaxRmse =",
        {"Get": "Parameters.MaxRmse"},
    ]


def test_processing_jobs_run_their_scripts_by_their_natural_path(
    diabetes_built: Built, tmp_path: Path
):
    steps = steps_by_name(diabetes_built.definition)
    for name, source, arguments in (
        ("Preprocess", "preprocess", diabetes.PREPROCESS_ARGUMENTS),
        ("Evaluate", "evaluate", diabetes.EVALUATE_ARGUMENTS),
    ):
        args = steps[name]["Arguments"]
        code = args["ProcessingInputs"][0]
        assert code["InputName"] == "code"
        assert code["S3Input"]["S3Uri"] == placeholders.step_source(source)
        assert code["S3Input"]["LocalPath"] == "/opt/ml/processing/input/code"
        assert args["AppSpecification"]["ContainerEntrypoint"] == [
            "python3",
            f"/opt/ml/processing/input/code/{source}.py",
        ]
        assert args["AppSpecification"]["ContainerArguments"] == list(arguments)
        assert (diabetes.STEPS_DIR / f"{source}.py").is_file()
        staged = diabetes.step_sources(tmp_path)[source]
        assert sorted(p.name for p in staged.iterdir()) == [f"{source}.py", "step_common.py"]
    data = steps["Preprocess"]["Arguments"]["ProcessingInputs"][1]["S3Input"]
    assert data["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    assert Path(data["LocalPath"]) == preprocess.parse_args([]).input_dir
    outputs = steps["Preprocess"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert [o["OutputName"] for o in outputs] == ["train", "validation", "test", "baseline"]
    for o in outputs:
        assert o["S3Output"]["S3Uri"]["Std:Join"]["Values"][0] == PREFIX


def test_training_runs_train_py_in_script_mode(diabetes_built: Built, tmp_path: Path):
    args = steps_by_name(diabetes_built.definition)["Train"]["Arguments"]
    hyperparameters = args["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == "train.py"
    assert hyperparameters["sagemaker_submit_directory"] == (
        "/opt/ml/input/data/code/train_sourcedir.tar.gz"
    )
    assert {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in args["InputDataConfig"]
    }["code"] == placeholders.step_source("train")
    own = {k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    assert own == {k: str(v) for k, v in diabetes.TRAIN_HYPERPARAMETERS.items()}
    train.parse_args([t for k, v in own.items() for t in (f"--{k}", v)])  # all accepted
    assert [m["Name"] for m in args["AlgorithmSpecification"]["MetricDefinitions"]] == [
        "validation:rmse",
        "validation:mae",
        "validation:r2",
    ]
    sources = diabetes.step_sources(tmp_path)
    assert sorted(sources) == ["evaluate", "preprocess", "train"]
    with tarfile.open(sources["train"]) as tar:
        assert sorted(tar.getnames()) == [
            "inference.py",
            "step_common.py",
            "step_serving.py",
            "train.py",
        ]
    used = set(placeholders.STEP_SOURCE_PATTERN.findall(diabetes_built.text))
    assert used == set(sources)


def test_baseline_job_is_what_the_sdk_model_monitor_would_run(diabetes_built: Built):
    from sagemaker.core.model_monitor.dataset_format import DatasetFormat
    from sagemaker.core.model_monitor.model_monitoring import ModelMonitor

    args = steps_by_name(diabetes_built.definition)["DataQualityBaseline"]["Arguments"]
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


def test_registered_package_carries_quality_baselines_and_serving_code(
    diabetes_built: Built, diabetes_run: DiabetesRun
):
    args = steps_by_name(diabetes_built.definition)["RegisterModel"]["Arguments"]

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
    assert args["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}

    def check(prop: str) -> dict[str, Any]:
        return {"ContentType": "application/json", "S3Uri": {"Get": f"Steps.{prop}"}}

    assert args["ModelMetrics"]["ModelQuality"] == {
        "Statistics": file_in("Evaluate", "evaluation", "evaluation.json"),
        "Constraints": check("ModelQualityBaseline.CalculatedBaselineConstraints"),
    }
    assert args["ModelMetrics"]["ModelDataQuality"] == baseline
    assert args["DriftCheckBaselines"] == {
        "ModelDataQuality": baseline,
        "ModelQuality": {
            "Statistics": check("ModelQualityBaseline.BaselineUsedForDriftCheckStatistics"),
            "Constraints": check("ModelQualityBaseline.BaselineUsedForDriftCheckConstraints"),
        },
    }
    quality = steps_by_name(diabetes_built.definition)["ModelQualityBaseline"]["Arguments"]
    assert quality["Environment"]["problem_type"] == "Regression"
    assert "probability_attribute" not in quality["Environment"]
    spec = args["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert spec["SupportedResponseMIMETypes"] == ["application/json"]
    (container,) = spec["Containers"]
    sklearn = (
        f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:"
        f"{diabetes.SKLEARN_FRAMEWORK_VERSION}-cpu-py3"
    )
    assert container["Image"] == sklearn
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_REGION": REGION,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    }
    with tarfile.open(diabetes_run.model_tar) as tar:
        assert f"code/{container['Environment']['SAGEMAKER_PROGRAM']}" in tar.getnames()
