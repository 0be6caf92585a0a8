"""The diabetes regressor's step scripts on the bundled data: splits, model, report, bad input."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines._offline import SHARED_STEPS_DIR
from pipelines.diabetes_regressor import pipeline as diabetes
from pipelines.diabetes_regressor.steps import evaluate, preprocess, train

from . import diabetes_support
from .diabetes_support import DiabetesRun

pytestmark = pytest.mark.xdist_group("diabetes-regressor")
diabetes_run_started = diabetes_support.diabetes_run_started
diabetes_run = diabetes_support.diabetes_run

SPLITS = ("train", "validation", "test")


# -- preprocess -------------------------------------------------------------------------


def test_splits_cover_the_data_once_with_the_target_first(diabetes_run: DiabetesRun):
    raw = pd.read_csv(diabetes_run.raw_csv)
    splits = {name: pd.read_csv(diabetes_run.split(name)) for name in SPLITS}

    assert list(raw.columns) == [*diabetes.FEATURES, "target"]
    assert {n: len(f) for n, f in splits.items()} == {"train": 310, "validation": 66, "test": 66}
    for frame in splits.values():
        assert list(frame.columns) == ["target", *diabetes.FEATURES]
    rows = pd.concat(splits.values())[raw.columns]
    assert not rows.duplicated().any()
    merged = raw.merge(rows, how="outer", indicator=True)
    assert len(merged) == len(raw) == 442 and (merged["_merge"] == "both").all()


def test_baseline_dataset_is_the_training_features(diabetes_run: DiabetesRun):
    baseline = pd.read_csv(diabetes_run.split("baseline"))
    training = pd.read_csv(diabetes_run.split("train"))
    assert list(baseline.columns) == list(diabetes.FEATURES)  # what a request carries
    pd.testing.assert_frame_equal(baseline, training.drop(columns=["target"]))


def test_preprocess_is_deterministic_and_uses_the_container_paths(
    diabetes_run: DiabetesRun, tmp_path: Path
):
    out = tmp_path / "again"
    argv = [*diabetes.PREPROCESS_ARGUMENTS, "--input-dir", str(diabetes_run.raw_csv.parent)]
    assert preprocess.main([*argv, "--output-dir", str(out)]) == 0
    for name in (*SPLITS, "baseline"):
        assert (out / name / f"{name}.csv").read_bytes() == diabetes_run.split(name).read_bytes()

    defaults = preprocess.parse_args([])
    assert defaults.input_dir == Path("/opt/ml/processing/input/data")
    assert defaults.output_dir == Path("/opt/ml/processing/output")


def _rows(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"target": rng.normal(size=n), "a": rng.normal(size=n)})


BAD_INPUTS = {
    "no target column": (
        lambda: _rows().rename(columns={"target": "y"}),
        "target column 'target' not found",
    ),
    "text target": (
        lambda: _rows().assign(target="high"),
        "target column 'target' must be numeric",
    ),
    "text feature": (lambda: _rows().assign(a="x"), "not numeric: ['a']"),
    "missing target": (
        lambda: _rows().assign(target=[None, *range(39)]),
        "1 row(s) have no value in target column",
    ),
    "too few rows": (lambda: _rows(20), "20 row(s): too few for a train/validation/test split"),
    "target only": (lambda: _rows()[["target"]], "no feature column"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_line(case, tmp_path: Path, capsys):
    make, message = BAD_INPUTS[case]
    (tmp_path / "in").mkdir()
    make().to_csv(tmp_path / "in" / "data.csv", index=False)

    status = preprocess.main(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path)])

    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("preprocess: ") and message in err, err


# -- train --------------------------------------------------------------------------------


def test_model_archive_holds_the_model_and_its_serving_code(diabetes_run: DiabetesRun):
    import joblib

    with tarfile.open(diabetes_run.model_tar) as tar:
        assert sorted(tar.getnames()) == [
            "code",
            "code/inference.py",
            "code/step_serving.py",
            "model.joblib",
        ]
        for name, source in (
            ("inference.py", diabetes.STEPS_DIR / "inference.py"),
            ("step_serving.py", SHARED_STEPS_DIR / "step_serving.py"),
        ):
            served = tar.extractfile(f"code/{name}")
            assert served is not None
            assert served.read() == source.read_bytes()
    model = joblib.load(diabetes_run.model_dir / train.MODEL_FILE)
    assert list(model.feature_names_in_) == list(diabetes.FEATURES)


def test_train_prints_what_the_metric_definitions_capture(diabetes_run: DiabetesRun):
    """The job's metric regexes (see _definition) find every validation metric."""
    found = {
        name: float(match.group(1))
        for name in diabetes.VALIDATION_METRICS
        if (match := re.search(f"validation:{name}=(-?[0-9.]+);", diabetes_run.train_log))
    }
    assert set(found) == set(diabetes.VALIDATION_METRICS)
    assert 0 < found["mae"] < found["rmse"] < diabetes.DEFAULT_MAX_RMSE


def test_train_accepts_exactly_the_pipeline_hyperparameters(monkeypatch):
    argv = [t for k, v in diabetes.TRAIN_HYPERPARAMETERS.items() for t in (f"--{k}", str(v))]
    args = train.parse_args(argv)
    for key, value in diabetes.TRAIN_HYPERPARAMETERS.items():
        assert getattr(args, key) == value
    monkeypatch.setenv("SM_MODEL_DIR", "/model")
    assert train.parse_args([]).model_dir == Path("/model")


# -- evaluate -----------------------------------------------------------------------------


def test_report_has_the_regression_model_quality_shape(diabetes_run: DiabetesRun):
    report = json.loads(diabetes_run.evaluation_json.read_text())
    assert list(report) == ["regression_metrics"]
    metrics = report["regression_metrics"]
    assert set(metrics) == set(evaluate.METRICS) == {"mae", "mse", "rmse", "r2"}
    for name in evaluate.METRICS:
        assert set(metrics[name]) == {"value", "standard_deviation"}, name
        assert metrics[name]["standard_deviation"] > 0, name
    assert metrics["rmse"]["value"] == pytest.approx(np.sqrt(metrics["mse"]["value"]))
    # The reference data clears the default gate (lower is better) with room to spare.
    assert metrics["rmse"]["value"] <= diabetes.DEFAULT_MAX_RMSE - 5
    assert 0.2 < metrics["r2"]["value"] < 1


def test_point_metrics_are_what_scikit_learn_computes(diabetes_run: DiabetesRun):
    from sklearn import metrics as sk

    model = evaluate.load_model(diabetes_run.model_tar.parent)
    features, y_true = evaluate.read_test(diabetes_run.split("test").parent, "target")
    y_pred = model.predict(features)
    report = json.loads(diabetes_run.evaluation_json.read_text())["regression_metrics"]

    expected = {
        "mae": sk.mean_absolute_error(y_true, y_pred),
        "mse": sk.mean_squared_error(y_true, y_pred),
        "rmse": np.sqrt(sk.mean_squared_error(y_true, y_pred)),
        "r2": sk.r2_score(y_true, y_pred),
    }
    for name, value in expected.items():
        assert report[name]["value"] == pytest.approx(value, rel=1e-12), name


def test_bootstrap_is_seeded_and_degenerate_targets_are_refused():
    y_true = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    y_pred = np.array([2.5, 1.5, 4.0, 2.0, 4.0, 8.0, 3.0, 5.0])
    first = evaluate.evaluate(y_true, y_pred, samples=30, seed=1)
    assert first == evaluate.evaluate(y_true, y_pred, samples=30, seed=1)
    assert first != evaluate.evaluate(y_true, y_pred, samples=30, seed=2)
    json.dumps(first, allow_nan=False)  # bootstrap samples with one distinct target: no NaN
    assert first["regression_metrics"]["mae"]["value"] == pytest.approx(6.0 / 8)

    with pytest.raises(SystemExit, match="at least 2 different target values"):
        evaluate.evaluate(np.full(4, 7.0), np.ones(4), samples=5, seed=1)


def test_evaluate_defaults_are_the_processing_container_paths():
    args = evaluate.parse_args([])
    assert args.model_dir == Path("/opt/ml/processing/input/model")
    assert args.test_dir == Path("/opt/ml/processing/input/test")
    assert args.output_dir == Path("/opt/ml/processing/output/evaluation")
