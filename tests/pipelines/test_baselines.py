"""The baselines each registered version carries: model quality, and Clarify's.

The Evaluate step writes the test split's predictions for Model Monitor's model-quality
baselining job. The format is the one the SageMaker documentation gives for that job
("Create a model quality baseline",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-baseline.html):
a CSV dataset that holds the model's predictions and the ground-truth labels (and, for
binary classification, the probabilities), read with ``DatasetFormat.csv(header=True)``
and told the columns by name through ``inference_attribute``, ``probability_attribute``
and ``ground_truth_attribute``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config.settings import load_settings
from constructs_lib.clarify_monitors import (
    BIAS_BASELINE_FIELDS,
    EXPLAINABILITY_BASELINE_FIELDS,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.images import clarify_image, model_monitor_image
from constructs_lib.model_quality_monitor import BASELINE_FIELDS
from pipelines import _offline as shared
from pipelines._steps import step_common
from pipelines.tabular_classifier import pipeline as tabular
from tests.support.definition_checks import check_api_shapes
from tests.support.hardening import network_problems, unpinned_images

from . import diabetes_support
from .diabetes_support import DiabetesRun
from .local_run import LocalPipelineRun

diabetes_run_started = diabetes_support.diabetes_run_started
diabetes_run = diabetes_support.diabetes_run

REGION = "eu-west-1"
CLARIFY = load_settings().models["tabular-classifier"].pipeline.parameters["clarify"]


def get(record: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        record = record[part]
    return record


# -- Evaluate's predictions: the model-quality baseline's dataset ------------------------


def test_classifier_predictions_are_the_model_quality_dataset(local_pipeline_run: LocalPipelineRun):
    frame = pd.read_csv(local_pipeline_run.predictions_csv)  # header=True, as the job reads it
    test = pd.read_csv(local_pipeline_run.split("test"))

    assert list(frame.columns) == ["label", "prediction", "probability"]
    assert len(frame) == len(test) == 86
    assert (frame["label"].to_numpy() == test["target"].to_numpy()).all()
    assert set(frame["prediction"].unique()) <= {0, 1}
    assert frame["probability"].between(0, 1).all()
    # Predicted labels are the thresholded probabilities (the job's default 0.5).
    assert ((frame["probability"] >= 0.5).astype(int) == frame["prediction"]).all()
    # ...and give the accuracy the report (and the quality gate) saw.
    report = json.loads(local_pipeline_run.evaluation_json.read_text())
    accuracy = float((frame["label"] == frame["prediction"]).mean())
    assert accuracy == pytest.approx(report["binary_classification_metrics"]["accuracy"]["value"])


def test_regressor_predictions_are_the_model_quality_dataset(diabetes_run: DiabetesRun):
    frame = pd.read_csv(diabetes_run.predictions_csv)
    test = pd.read_csv(diabetes_run.split("test"))

    assert list(frame.columns) == ["label", "prediction"]
    assert np.allclose(frame["label"], test["target"])
    report = json.loads(diabetes_run.evaluation_json.read_text())
    rmse = float(np.sqrt(np.mean((frame["label"] - frame["prediction"]) ** 2)))
    assert rmse == pytest.approx(report["regression_metrics"]["rmse"]["value"])


def test_column_names_agree_between_the_script_and_the_definition():
    assert (step_common.LABEL_COLUMN, step_common.PREDICTION_COLUMN) == (
        shared.LABEL_COLUMN,
        shared.PREDICTION_COLUMN,
    )
    assert step_common.PROBABILITY_COLUMN == shared.PROBABILITY_COLUMN
    assert step_common.CLARIFY_CONFIGS == shared.CLARIFY_CONFIGS


# -- Evaluate's Clarify outputs, from the model file's settings -----------------------------


def test_clarify_dataset_and_analysis_configs(local_pipeline_run: LocalPipelineRun):
    out = local_pipeline_run.clarify_dir
    test = pd.read_csv(local_pipeline_run.split("test"))
    dataset = pd.read_csv(out / step_common.CLARIFY_DATASET, header=None)
    assert dataset.shape == test.shape
    assert np.allclose(dataset.to_numpy(), test.to_numpy())  # no header, label first

    bias = json.loads((out / shared.CLARIFY_CONFIGS["bias"]).read_text())
    assert bias["headers"] == list(test.columns) == ["target", *tabular.FEATURES]
    assert bias["label"] == "target" and bias["dataset_type"] == "text/csv"
    assert bias["label_values_or_threshold"] == [1]
    assert bias["facet"] == [{"name_or_index": "mean radius", "value_or_threshold": [14.0]}]
    assert bias["methods"]["post_training_bias"] == {"methods": "all"}
    assert bias["predictor"] == {
        "content_type": "text/csv",
        "accept_type": "application/json",
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "label": "predictions[*].label",
    }

    shap = json.loads((out / shared.CLARIFY_CONFIGS["explainability"]).read_text())
    (row,) = shap["methods"]["shap"]["baseline"]
    assert np.allclose(row, test.drop(columns=["target"]).mean().to_numpy())  # "mean"
    assert shap["methods"]["shap"]["num_samples"] == 100
    assert shap["methods"]["shap"]["agg_method"] == "mean_abs"
    assert shap["predictor"]["probability"] == "predictions[*].probability"


def test_clarify_predictor_paths_read_the_served_response(local_pipeline_run: LocalPipelineRun):
    """The JMESPaths name what inference.py answers ({"predictions": [{label, probability}]})."""
    from pipelines.tabular_classifier.steps import inference

    model = inference.model_fn(str(local_pipeline_run.model_dir))
    rows = pd.read_csv(local_pipeline_run.split("test")).drop(columns=["target"]).head(2)
    answer = inference.predict_fn(rows.to_numpy(), model)
    labels = [p["label"] for p in answer["predictions"]]
    assert tabular.CLARIFY_PREDICTOR["label"] == "predictions[*].label" and len(labels) == 2


def test_clarify_arguments_fit_container_arguments_and_round_trip():
    settings = shared.clarify_job_settings(
        {"explainability": {"shap_baseline": [[0.5] * 30] * 10}},
        tabular.CLARIFY_PREDICTOR,
        "ml.m5.large",
    )
    arguments = shared.clarify_arguments(settings)
    assert arguments[0] == "--clarify" and len(arguments) <= 100
    assert all(len(a) <= 256 for a in arguments)
    assert step_common.clarify_settings(arguments[1:]) == json.loads(json.dumps(settings))


# -- the definition with Clarify ------------------------------------------------------------


@pytest.fixture(scope="module")
def with_clarify() -> dict[str, Any]:
    """The classifier's definition as the app builds it in a build VPC (its model file
    turns Clarify on), from the app's definition cache: the same build as
    tests/pipelines/test_hardening.py and tests/config/test_vpc_app.py."""
    from tests.pipelines.test_hardening import GROUPS, SUBNETS, reference_definition

    assert CLARIFY
    return reference_definition(
        "tabular-classifier", None, subnet_ids=SUBNETS, security_group_ids=GROUPS
    )


def steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {s["Name"]: s for s in definition["Steps"]}
    for nested in found["QualityGate"]["Arguments"]["IfSteps"]:
        found[nested["Name"]] = nested
    return found


def test_clarify_steps_names_types_and_order(with_clarify: dict[str, Any]):
    assert [(s["Name"], s["Type"]) for s in with_clarify["Steps"]] == [
        ("Preprocess", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("DataQualityBaseline", "Processing"),
        ("ModelQualityBaseline", "QualityCheck"),
        ("ClarifyModel", "Model"),
        ("ModelBiasBaseline", "ClarifyCheck"),
        ("ModelExplainabilityBaseline", "ClarifyCheck"),
        ("QualityGate", "Condition"),
    ]
    found = steps(with_clarify)
    assert found["QualityGate"]["DependsOn"] == [
        "DataQualityBaseline",
        "ModelQualityBaseline",
        "ModelBiasBaseline",
        "ModelExplainabilityBaseline",
    ]
    for name, check_type in (
        ("ModelBiasBaseline", "MODEL_BIAS"),
        ("ModelExplainabilityBaseline", "MODEL_EXPLAINABILITY"),
    ):
        step = found[name]
        assert step["CheckType"] == check_type
        assert step["ModelName"] == {"Get": "Steps.ClarifyModel.ModelName"}
        assert (step["SkipCheck"], step["RegisterNewBaseline"]) == (True, True)
        assert step["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
        config, data = step["Arguments"]["ProcessingInputs"]
        clarify_out = "Steps.Evaluate.ProcessingOutputConfig.Outputs['clarify'].S3Output.S3Uri"
        folder = "bias" if check_type == "MODEL_BIAS" else "explainability"
        assert config["S3Input"]["S3Uri"] == {
            "Std:Join": {"On": "/", "Values": [{"Get": clarify_out}, folder]}
        }
        assert data["S3Input"]["S3Uri"] == {
            "Std:Join": {"On": "/", "Values": [{"Get": clarify_out}, "dataset"]}
        }
        assert step["Arguments"]["AppSpecification"]["ImageUri"] == clarify_image(REGION)
    quality = found["ModelQualityBaseline"]
    assert quality["Arguments"]["AppSpecification"]["ImageUri"] == model_monitor_image(REGION)
    assert quality["Arguments"]["Environment"]["problem_type"] == "BinaryClassification"
    assert "FailOnViolation" not in quality and None not in quality.values()


def test_registered_package_names_what_the_monitors_read(with_clarify: dict[str, Any]):
    args = steps(with_clarify)["RegisterModel"]["Arguments"]
    assert get(args, BASELINE_FIELDS["constraints"].removesuffix(".S3Uri")) == {
        "ContentType": "application/json",
        "S3Uri": {"Get": "Steps.ModelQualityBaseline.CalculatedBaselineConstraints"},
    }
    for fields, step in (
        (BIAS_BASELINE_FIELDS, "ModelBiasBaseline"),
        (EXPLAINABILITY_BASELINE_FIELDS, "ModelExplainabilityBaseline"),
    ):
        assert get(args, fields["constraints"]) == {
            "Get": f"Steps.{step}.CalculatedBaselineConstraints"
        }
    drift = args["DriftCheckBaselines"]
    assert drift["Bias"]["PostTrainingConstraints"]["S3Uri"] == {
        "Get": "Steps.ModelBiasBaseline.BaselineUsedForDriftCheckConstraints"
    }
    assert drift["Explainability"]["Constraints"]["S3Uri"] == {
        "Get": "Steps.ModelExplainabilityBaseline.BaselineUsedForDriftCheckConstraints"
    }
    assert drift["Bias"]["ConfigFile"]["S3Uri"]["Std:Join"]["Values"][1] == (
        "bias/analysis_config.json"
    )


def test_clarify_definition_is_hardened_and_valid(with_clarify: dict[str, Any]):
    from tests.pipelines.test_hardening import GROUPS, SUBNETS

    vpc = (SUBNETS, GROUPS)
    assert network_problems(with_clarify, vpc) == []
    assert unpinned_images(with_clarify) == []
    assert check_api_shapes(with_clarify) == []
    found = steps(with_clarify)
    # Only the Clarify jobs leave isolation off (they host the model); the model is isolated.
    for name in ("ModelBiasBaseline", "ModelExplainabilityBaseline"):
        network = found[name]["Arguments"]["NetworkConfig"]
        assert network["EnableNetworkIsolation"] is False
        assert network["EnableInterContainerTrafficEncryption"] is True
    assert found["ClarifyModel"]["Arguments"]["EnableNetworkIsolation"] is True


def test_deploy_accounts_read_the_baselines_of_deployed_monitors_only():
    reads = shared.SERVING_READS
    assert reads == ("training/", f"{shared.DATA_QUALITY_BASELINE}/", "ModelQualityBaseline/")


# -- Clarify settings: one test per validation error ------------------------------------


@pytest.mark.parametrize(
    ("clarify", "message"),
    [
        ({}, "clarify: got {}; allowed None or a mapping of bias and/or explainability"),
        ({"fairness": {}}, "clarify: got {'fairness': {}}; allowed None or a mapping"),
        ({"bias": {"facets": []}}, "clarify.bias: got .*; allowed a mapping of label_values"),
        (
            {"bias": {"label_values": "1", "facets": [{"name": "mean radius", "threshold": 1}]}},
            "clarify.bias.label_values: got '1'; allowed a non-empty list",
        ),
        ({"bias": {"label_values": [1], "facets": []}}, "clarify.bias.facets: got \\[\\]"),
        (
            {"bias": {"label_values": [1], "facets": [{"name": "mean radius"}]}},
            "clarify.bias.facets\\[0\\]: got .*; allowed a mapping of name and either values",
        ),
        (
            {"bias": {"label_values": [1], "facets": [{"name": "mean_radius", "threshold": 1}]}},
            "clarify.bias.facets\\[0\\].name: got 'mean_radius'; allowed 'mean radius' or",
        ),
        (
            {"bias": {"label_values": [1], "facets": [{"name": "mean radius", "values": []}]}},
            "clarify.bias.facets\\[0\\].values: got \\[\\]",
        ),
        (
            {"bias": {"label_values": [1], "facets": [{"name": "mean radius", "threshold": "1"}]}},
            "clarify.bias.facets\\[0\\].threshold: got a str '1'; allowed a number",
        ),
        ({"explainability": []}, "clarify.explainability: got \\[\\]; allowed a mapping of"),
        (
            {"explainability": {"shap_baseline": [[1, 2]]}},
            "clarify.explainability.shap_baseline: got .*; allowed 'mean' .* rows of 30 numbers",
        ),
        (
            {"explainability": {"num_samples": "100"}},
            "clarify.explainability.num_samples: got a str '100'; allowed a whole number",
        ),
        (
            {"explainability": {"agg_method": "max"}},
            "clarify.explainability.agg_method: got 'max'; allowed 'mean_abs' or",
        ),
    ],
)
def test_invalid_clarify_settings_are_configuration_errors(clarify: Any, message: str):
    with pytest.raises(ConfigurationError, match=f"build_pipeline {message}"):
        tabular.build_pipeline(
            pipeline_name="p", model_package_group_name="g", region=REGION, clarify=clarify
        )
