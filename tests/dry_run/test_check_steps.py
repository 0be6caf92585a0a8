"""QualityCheck, ClarifyCheck, Model and Transform steps, and a RegisterModel recording
their baselines, on a small definition rendered by the SDK v3 (`fixtures/checks.json`,
from `fixtures/render.py`) with a tiny logistic-regression model: no app synth."""

from __future__ import annotations

import copy
import io
import json
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from constructs_lib.dry_run import DryRunError, Options, checks
from constructs_lib.dry_run.assembly import Assembly, PipelineSource, Stack
from constructs_lib.dry_run.localfs import LocalS3
from constructs_lib.dry_run.runner import PipelineRun, run_pipeline

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "checks.json").read_text())
BUCKET = "dry-run-fixture"
CACHED = copy.deepcopy(FIXTURE["definition"])
for _step_spec in CACHED["Steps"]:
    if _step_spec["Type"] == "QualityCheck":
        _step_spec["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P1D"}
INFERENCE = """
import io, pickle
import numpy as np

def model_fn(model_dir):
    with open(f"{model_dir}/model.pkl", "rb") as f:
        return pickle.load(f)

def input_fn(body, content_type):
    assert content_type == "text/csv", content_type
    return np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2)

def predict_fn(data, model):
    return model.predict_proba(data)[:, 1]

def output_fn(prediction, accept):
    return "\\n".join(f"{p:.6f}" for p in prediction)
"""


def _csv(rows: Any, header: list[str] | None = None) -> bytes:
    lines = [",".join(header)] if header else []
    lines += [",".join(f"{v:g}" for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def world(root: Path) -> LocalS3:
    """Local S3 with the fixture's data, analysis configs and a model archive."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    x = np.column_stack([rng.integers(0, 2, 200), rng.normal(size=200), rng.normal(size=200)])
    y = (x[:, 0] + 2 * x[:, 1] + rng.normal(scale=0.5, size=200) > 0.5).astype(int)
    model = LogisticRegression().fit(x, y)
    s3 = LocalS3(root / "s3")

    def put(key: str, data: bytes) -> None:
        s3.put(BUCKET, key, data)

    labelled = np.column_stack([y, x])
    put("data/train/train.csv", _csv(labelled, ["label", "f0", "f1", "f2"]))
    put("data/validation/validation.csv", _csv(labelled[:80]))
    put("data/score/part-1.csv", _csv(x[:30]))
    probability = model.predict_proba(x)[:, 1]
    predictions = np.column_stack([(probability >= 0.5).astype(int), probability, y])
    put("data/predictions/p.csv", _csv(predictions, ["prediction", "probability", "label"]))
    for key, config in FIXTURE["uploaded"].items():
        put(key, json.dumps(config).encode())
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in (
            ("model.pkl", pickle.dumps(model)),
            ("code/inference.py", INFERENCE.encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    put("data/model/model.tar.gz", archive.getvalue())
    return s3


def run(root: Path, definition: dict[str, Any], s3: LocalS3 | None = None) -> PipelineRun:
    stack = Stack("checks-stack", "checks-stack", "111111111111", "eu-west-1", {}, root)
    source = PipelineSource("checks", stack, "Pipeline", definition)
    options = Options(workdir=root / "work", echo=lambda _: None, repo_root=root)
    return run_pipeline(Assembly(root, [stack]), source, options, s3 or world(root))


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineRun, LocalS3, Path]:
    root = tmp_path_factory.mktemp("checks")
    s3 = world(root)
    return run(root, CACHED, s3), s3, root


def _json(s3: LocalS3, uri: str) -> Any:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(s3.file(bucket, key).read_text())


def test_every_new_step_type_runs(done: tuple[PipelineRun, LocalS3, Path]) -> None:
    result = done[0]
    assert (result.status, result.error) == ("Succeeded", None)
    assert {s.name: s.ran for s in result.steps} == {
        "DataQualityCheck": "STAND-IN",
        "ModelQualityCheck": "STAND-IN",
        "CreateModel": "EVALUATED",
        "ModelBiasCheck": "STAND-IN",
        "ModelExplainabilityCheck": "STAND-IN",
        "RegisterModel": "REAL",
        "Score": "REAL",
    }


def test_model_quality_statistics_are_computed_from_the_predictions(
    done: tuple[PipelineRun, LocalS3, Path],
) -> None:
    from sklearn.metrics import accuracy_score, roc_auc_score

    _, s3, _ = done
    statistics = _json(s3, f"s3://{BUCKET}/checks/model-quality/statistics.json")
    constraints = _json(s3, f"s3://{BUCKET}/checks/model-quality/constraints.json")
    table = np.loadtxt(s3.file(BUCKET, "data/predictions/p.csv"), delimiter=",", skiprows=1)
    metrics = statistics["binary_classification_metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(accuracy_score(table[:, 2], table[:, 0]))
    assert metrics["auc"]["value"] == pytest.approx(roc_auc_score(table[:, 2], table[:, 1]))
    assert metrics["auc"]["standard_deviation"] > 0
    assert statistics["dataset"]["item_count"] == 200
    assert constraints["binary_classification_constraints"]["auc"] == {
        "threshold": metrics["auc"]["value"],
        "comparison_operator": "LessThanThreshold",
    }
    assert (
        constraints["binary_classification_constraints"]["false_positive_rate"][
            "comparison_operator"
        ]
        == "GreaterThanThreshold"
    )


def test_clarify_writes_bias_metrics_and_shap_values(
    done: tuple[PipelineRun, LocalS3, Path],
) -> None:
    _, s3, _ = done
    bias = _json(s3, f"s3://{BUCKET}/checks/bias/analysis.json")["post_training_bias_metrics"]
    (facet,) = bias["facets"]["f0"]
    assert {m["name"] for m in facet["metrics"]} >= {"DPPL", "DI", "AD", "RD"}
    shap = _json(s3, f"s3://{BUCKET}/checks/explainability/analysis.json")["explanations"]
    values = shap["kernel_shap"]["label0"]["global_shap_values"]
    assert set(values) == {"f0", "f1", "f2"}
    assert values["f1"] > values["f2"]  # the label depends on f1, not on f2


def test_register_records_the_check_steps_baselines(
    done: tuple[PipelineRun, LocalS3, Path],
) -> None:
    result = done[0]
    properties = result.step("ModelQualityCheck")
    assert properties.status == "Succeeded"
    (package_note,) = [s.note for s in result.steps if s.name == "RegisterModel"]
    assert "model-package/fixture/1" in package_note


def test_transform_writes_one_out_file_per_object(done: tuple[PipelineRun, LocalS3, Path]) -> None:
    _, s3, _ = done
    lines = s3.file(BUCKET, "scores/part-1.csv.out").read_text().splitlines()
    assert len(lines) == 30
    assert all(0.0 <= float(v) <= 1.0 for v in lines)


def test_a_second_run_reuses_cached_check_steps(done: tuple[PipelineRun, LocalS3, Path]) -> None:
    _, s3, root = done
    again = run(root, CACHED, s3)
    assert again.status == "Succeeded"
    assert [s.name for s in again.steps if s.ran == "CACHED"] == [
        "DataQualityCheck",
        "ModelQualityCheck",
    ]


def _step(definition: dict[str, Any], name: str) -> Any:
    return next(s for s in definition["Steps"] if s["Name"] == name)


def test_a_get_on_a_property_check_steps_lack_fails_statically() -> None:
    definition = copy.deepcopy(FIXTURE["definition"])
    metrics = _step(definition, "RegisterModel")["Arguments"]["ModelMetrics"]
    metrics["ModelQuality"]["Statistics"]["S3Uri"] = {
        "Get": "Steps.ModelQualityCheck.CalculatedStatistics"
    }
    with pytest.raises(
        DryRunError,
        match=r"^RegisterModel: ModelMetrics.ModelQuality.Statistics.S3Uri: "
        r"Get Steps.ModelQualityCheck.CalculatedStatistics: a QualityCheck step exposes "
        r"CalculatedBaselineConstraints, CalculatedBaselineStatistics",
    ):
        checks.check(definition, {})


def test_a_clarify_model_name_orders_the_model_step_first() -> None:
    graph, _ = checks.check(FIXTURE["definition"], {})
    assert "CreateModel" in graph.needs["ModelBiasCheck"]


def _only(*names: str) -> Any:
    definition = copy.deepcopy(FIXTURE["definition"])
    definition["Steps"] = [s for s in definition["Steps"] if s["Name"] in names]
    return definition


def test_a_ground_truth_column_the_predictions_lack_names_the_setting(tmp_path: Path) -> None:
    definition = _only("ModelQualityCheck")
    _step(definition, "ModelQualityCheck")["Arguments"]["Environment"]["ground_truth_attribute"] = (
        "truth"
    )
    result = run(tmp_path, definition)
    assert result.status == "Invalid"
    assert result.error is not None and result.error.startswith(
        "ModelQualityCheck: Environment.ground_truth_attribute: a column of the predictions"
        " (header: prediction, probability, label)"
    )


def test_a_check_with_no_baseline_to_compare_fails_the_step(tmp_path: Path) -> None:
    definition = _only("ModelQualityCheck")
    _step(definition, "ModelQualityCheck")["SkipCheck"] = False
    result = run(tmp_path, definition)
    assert result.status == "Failed"
    assert result.error is not None and "no baseline to check against" in result.error


def test_a_supplied_baseline_is_checked_and_violations_fail_the_step(tmp_path: Path) -> None:
    s3 = world(tmp_path)
    strict = {
        "version": 0.0,
        "binary_classification_constraints": {
            "auc": {"threshold": 0.9999, "comparison_operator": "LessThanThreshold"}
        },
    }
    s3.put(BUCKET, "baseline/constraints.json", json.dumps(strict).encode())
    definition = _only("ModelQualityCheck")
    step = _step(definition, "ModelQualityCheck")
    step["SkipCheck"], step["SuppliedBaselineConstraints"] = (
        False,
        f"s3://{BUCKET}/baseline/constraints.json",
    )
    result = run(tmp_path, definition, s3)
    assert result.status == "Failed"
    assert result.error is not None and "Metric auc with" in result.error


def test_a_metrics_source_nothing_wrote_fails_registration(tmp_path: Path) -> None:
    definition = _only("DataQualityCheck", "RegisterModel")
    register = _step(definition, "RegisterModel")["Arguments"]
    for section in ("ModelMetrics", "DriftCheckBaselines"):
        register[section] = {"ModelDataQuality": register[section]["ModelDataQuality"]}
    register["ModelMetrics"]["ModelDataQuality"]["Statistics"]["S3Uri"] = (
        f"s3://{BUCKET}/checks/data-quality/stats.json"
    )
    result = run(tmp_path, definition)
    assert result.error is not None and result.error.startswith(
        "RegisterModel: Arguments.ModelMetrics.ModelDataQuality.Statistics.S3Uri: an object at"
        f" s3://{BUCKET}/checks/data-quality/stats.json (the folder holds: constraints.json, statistics.json)"
    )


def test_a_transform_on_a_model_only_the_account_has_is_not_run(tmp_path: Path) -> None:
    definition = _only("Score")
    _step(definition, "Score")["Arguments"]["ModelName"] = "tabular-classifier-prod-batch"
    result = run(tmp_path, definition)
    assert result.status == "Succeeded"
    assert result.step("Score").status == "NotRun"
    assert "neither created by this pipeline" in result.step("Score").note
