"""The step scripts on real data: split sizes, the model, the evaluation report, bad input."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines._offline import SHARED_STEPS_DIR
from pipelines.tabular_classifier import pipeline as tabular
from pipelines.tabular_classifier.steps import evaluate, preprocess, train

from . import staged_run
from .local_run import LocalPipelineRun

SPLITS = ("train", "validation", "test")


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


# -- preprocess -------------------------------------------------------------------------


def test_splits_cover_the_data_once_with_the_label_first(local_pipeline_run: LocalPipelineRun):
    raw = read(local_pipeline_run.raw_csv)
    splits = {name: read(local_pipeline_run.split(name)) for name in SPLITS}

    assert {n: len(f) for n, f in splits.items()} == {"train": 397, "validation": 86, "test": 86}
    assert sum(len(f) for f in splits.values()) == len(raw) == 569
    expected_columns = ["target", *[c for c in raw.columns if c != "target"]]
    for frame in splits.values():
        assert list(frame.columns) == expected_columns
    # Every raw row lands in exactly one split (rows of this dataset are unique).
    rows = pd.concat(splits.values())[raw.columns]
    assert not rows.duplicated().any()
    merged = raw.merge(rows, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()


def test_splits_are_stratified(local_pipeline_run: LocalPipelineRun):
    overall = read(local_pipeline_run.raw_csv)["target"].mean()
    for name in SPLITS:
        share = read(local_pipeline_run.split(name))["target"].mean()
        assert share == pytest.approx(overall, abs=0.02), name


def test_baseline_dataset_is_the_training_features(local_pipeline_run: LocalPipelineRun):
    baseline = read(local_pipeline_run.baseline_dataset)
    training = read(local_pipeline_run.split("train"))
    pd.testing.assert_frame_equal(baseline, training.drop(columns=["target"]))


def test_preprocess_is_deterministic(local_pipeline_run: LocalPipelineRun, tmp_path: Path):
    out = tmp_path / "again"
    argv = [*tabular.PREPROCESS_ARGUMENTS, "--input-dir", str(local_pipeline_run.raw_csv.parent)]
    assert preprocess.main([*argv, "--output-dir", str(out)]) == 0
    for name in (*SPLITS, "baseline"):
        again = (out / name / f"{name}.csv").read_bytes()
        assert again == local_pipeline_run.split(name).read_bytes(), name


def test_preprocess_defaults_are_the_processing_container_paths():
    args = preprocess.parse_args([])
    assert args.input_dir == Path("/opt/ml/processing/input/data")
    assert args.output_dir == Path("/opt/ml/processing/output")
    assert args.target_column == tabular.TARGET_COLUMN


def _valid_rows(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"target": [i % 2 for i in range(n)], "a": rng.normal(size=n), "b": rng.normal(size=n)}
    )


BAD_INPUTS = {
    "no target column": (
        lambda: _valid_rows().rename(columns={"target": "label"}),
        "target column 'target' not found",
    ),
    "three labels": (
        lambda: _valid_rows().assign(target=[i % 3 for i in range(40)]),
        "must hold the labels 0 and 1",
    ),
    "one label": (lambda: _valid_rows().assign(target=1), "must hold the labels 0 and 1"),
    "text feature": (lambda: _valid_rows().assign(b="x"), "not numeric: ['b']"),
    "missing label": (
        lambda: _valid_rows().assign(target=[None, *[i % 2 for i in range(39)]]),
        "1 row(s) have no value",
    ),
    "too few rows": (lambda: _valid_rows(4), "label 0 has 2 row(s): too few for a stratified"),
    "label only": (lambda: _valid_rows()[["target"]], "no feature column"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_line(case, tmp_path: Path, capsys):
    make, message = BAD_INPUTS[case]
    (tmp_path / "in").mkdir()
    make().to_csv(tmp_path / "in" / "data.csv", index=False)

    status = preprocess.main(
        ["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]
    )

    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("preprocess: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_bad_input_fails_the_job_with_the_reason_on_stderr(tmp_path: Path):
    """As the container runs it: a non-zero exit status and one line saying why."""
    (tmp_path / "in").mkdir()
    _valid_rows().drop(columns=["target"]).to_csv(tmp_path / "in" / "data.csv", index=False)
    script = staged_run.stage(tabular, tmp_path)["preprocess.py"]
    ran = staged_run.run_script(script, "--input-dir", str(tmp_path / "in"))
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        "preprocess: target column 'target' not found; columns are ['a', 'b']"
    ]


def test_no_csv_and_unreadable_csv_are_reported(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    assert preprocess.main(["--input-dir", str(tmp_path / "empty")]) == 2
    assert "no .csv file found under" in capsys.readouterr().err

    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "data.csv").write_text("")
    assert preprocess.main(["--input-dir", str(tmp_path / "blank")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_several_csv_files_are_concatenated_and_must_agree(tmp_path: Path, capsys):
    rows = _valid_rows()
    (tmp_path / "in" / "part").mkdir(parents=True)
    rows[:20].to_csv(tmp_path / "in" / "a.csv", index=False)
    rows[20:].to_csv(tmp_path / "in" / "part" / "b.csv", index=False)
    assert (
        preprocess.main(
            ["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]
        )
        == 0
    )
    total = sum(len(read(tmp_path / "out" / n / f"{n}.csv")) for n in SPLITS)
    assert total == 40

    rows[20:].rename(columns={"b": "c"}).to_csv(tmp_path / "in" / "part" / "b.csv", index=False)
    assert preprocess.main(["--input-dir", str(tmp_path / "in")]) == 2
    assert "has columns" in capsys.readouterr().err


# -- train --------------------------------------------------------------------------------


def test_model_archive_holds_the_model_and_its_serving_code(local_pipeline_run: LocalPipelineRun):
    with tarfile.open(local_pipeline_run.model_tar) as tar:
        names = sorted(tar.getnames())
        served = tar.extractfile("code/inference.py")
        assert served is not None
        served_code = served.read()
        serving = tar.extractfile("code/step_serving.py")
        assert serving is not None
        assert serving.read() == (SHARED_STEPS_DIR / "step_serving.py").read_bytes()
    assert names == ["code", "code/inference.py", "code/step_serving.py", "model.joblib"]
    assert served_code == (tabular.STEPS_DIR / "inference.py").read_bytes()


def test_model_knows_its_features(local_pipeline_run: LocalPipelineRun):
    import joblib

    model = joblib.load(local_pipeline_run.model_dir / train.MODEL_FILE)
    features = list(read(local_pipeline_run.baseline_dataset).columns)
    assert model.n_features_in_ == len(features) == 30
    assert list(model.feature_names_in_) == features


def test_train_defaults_come_from_the_sm_environment(monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/data/t")
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", "/data/v")
    monkeypatch.setenv("SM_MODEL_DIR", "/model")
    args = train.parse_args([])
    assert (args.train, args.validation, args.model_dir) == (
        Path("/data/t"),
        Path("/data/v"),
        Path("/model"),
    )
    monkeypatch.delenv("SM_MODEL_DIR")
    assert train.parse_args([]).model_dir == Path("/opt/ml/model")


def test_train_accepts_exactly_the_pipeline_hyperparameters():
    argv = [t for k, v in tabular.TRAIN_HYPERPARAMETERS.items() for t in (f"--{k}", str(v))]
    args = train.parse_args(argv)
    for key, value in tabular.TRAIN_HYPERPARAMETERS.items():
        assert getattr(args, key) == value


# -- evaluate -----------------------------------------------------------------------------


def test_evaluation_report_has_the_model_quality_shape(local_pipeline_run: LocalPipelineRun):
    report = json.loads(local_pipeline_run.evaluation_json.read_text())
    metrics = report["binary_classification_metrics"]
    assert set(metrics) == {*evaluate.METRICS, "confusion_matrix"}
    for name in evaluate.METRICS:
        assert set(metrics[name]) == {"value", "standard_deviation"}
        assert 0.0 <= metrics[name]["value"] <= 1.0, name
        assert 0.0 <= metrics[name]["standard_deviation"] < 0.2, name
    matrix = metrics["confusion_matrix"]
    assert sum(v for row in matrix.values() for v in row.values()) == 86
    assert metrics["accuracy"]["value"] == pytest.approx((matrix["0"]["0"] + matrix["1"]["1"]) / 86)
    # The reference data clears the default quality gate with room to spare.
    assert metrics["accuracy"]["value"] >= tabular.DEFAULT_QUALITY_THRESHOLD
    assert metrics["auc"]["value"] >= 0.97


def test_point_metrics_agree_with_scikit_learn(local_pipeline_run: LocalPipelineRun):
    from sklearn import metrics as sk

    model = evaluate.load_model(local_pipeline_run.model_tar.parent)
    features, y_true = evaluate.read_test(local_pipeline_run.split("test").parent, "target")
    y_score = model.predict_proba(features)[:, 1]
    y_pred = model.predict(features)
    report = json.loads(local_pipeline_run.evaluation_json.read_text())[
        "binary_classification_metrics"
    ]

    expected = {
        "accuracy": sk.accuracy_score(y_true, y_pred),
        "precision": sk.precision_score(y_true, y_pred),
        "recall": sk.recall_score(y_true, y_pred),
        "f1": sk.f1_score(y_true, y_pred),
        "auc": sk.roc_auc_score(y_true, y_score),
    }
    for name, value in expected.items():
        assert report[name]["value"] == pytest.approx(value, abs=1e-12), name


def test_report_is_reproducible_and_handles_degenerate_predictions():
    y_true = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    y_score = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.7, 0.6])
    y_pred = (y_score >= 0.5).astype(np.int64)
    first = evaluate.evaluate(y_true, y_pred, y_score, samples=50, seed=1)
    assert first == evaluate.evaluate(y_true, y_pred, y_score, samples=50, seed=1)
    assert first["binary_classification_metrics"]["auc"]["value"] == pytest.approx(14 / 16)

    never_positive = evaluate.evaluate(y_true, np.zeros(8, dtype=np.int64), y_score, 20, 1)
    metrics = never_positive["binary_classification_metrics"]
    assert (
        metrics["precision"]["value"] == metrics["recall"]["value"] == metrics["f1"]["value"] == 0.0
    )
    json.dumps(never_positive, allow_nan=False)  # still valid JSON: no NaN anywhere

    with pytest.raises(SystemExit, match="both labels"):
        evaluate.evaluate(np.ones(4, dtype=np.int64), np.ones(4, dtype=np.int64), np.ones(4), 5, 1)


def test_evaluate_defaults_are_the_processing_container_paths():
    args = evaluate.parse_args([])
    assert args.model_dir == Path("/opt/ml/processing/input/model")
    assert args.test_dir == Path("/opt/ml/processing/input/test")
    assert args.output_dir == Path("/opt/ml/processing/output/evaluation")


def test_evaluate_names_a_missing_or_wrong_model_archive(tmp_path: Path):
    with pytest.raises(SystemExit, match=r"model\.tar\.gz not found"):
        evaluate.load_model(tmp_path)
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        tar.add(__file__, arcname="other.bin")
    with pytest.raises(SystemExit, match=r"has no model\.joblib"):
        evaluate.load_model(tmp_path)
