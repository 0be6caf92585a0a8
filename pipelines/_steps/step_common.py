"""What every step script shares: the jobs' options, CSV data, the model archive, the report.

A step script runs alone in its container (``python3 <code dir>/preprocess.py``), so this
file is staged beside it: in each processing step's code folder and in the training
source archive (``pipelines._offline.step_sources``). Scripts import it as
``step_common`` there and as ``pipelines._steps.step_common`` in the repository. It uses
only what the scikit-learn containers have: the standard library, numpy, pandas,
joblib and scikit-learn.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

MODEL_FILE = "model.joblib"
MODEL_ARCHIVE = "model.tar.gz"
REPORT_FILE = "evaluation.json"
PREDICTIONS_FILE = "predictions.csv"
"""The test split's labels and predictions, for Model Monitor's model-quality baselining."""
LABEL_COLUMN, PREDICTION_COLUMN, PROBABILITY_COLUMN = "label", "prediction", "probability"
"""predictions.csv's columns (its header): the ground-truth, inference and probability
attributes of the model-quality baselining job."""
CLARIFY_DATASET = "dataset/dataset.csv"
"""Below the clarify output: the test split without a header, label first (Clarify's
dataset; the analysis configs name the columns)."""
CLARIFY_CONFIGS = {
    "bias": "bias/analysis_config.json",
    "explainability": "explainability/analysis_config.json",
}
"""Below the clarify output: the analysis config of each Clarify check."""
SERVING_MODULE = Path(__file__).resolve().with_name("step_serving.py")
"""Copied with a package's inference.py into the model archive (always beside this file)."""

Splits = dict[str, pd.DataFrame]
"""Split name (train, validation, test) -> its rows, the target column first."""


class DataError(ValueError):
    """The input data cannot be used; the message says why and what is expected."""


def csv_files(directory: Path) -> list[Path]:
    """Every ``*.csv`` file under ``directory``, sorted by path."""
    return sorted(p for p in directory.rglob("*.csv") if p.is_file())


def read_labelled(directory: Path, target: str, step: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of the CSV file(s) of a split preprocess wrote; exits (naming
    ``step``) when there is no file or no target column."""
    files = csv_files(directory)
    if not files:
        raise SystemExit(f"{step}: no .csv file found under {directory}")
    data = pd.concat([pd.read_csv(path) for path in files], ignore_index=True)
    if target not in data.columns:
        raise SystemExit(f"{step}: target column {target!r} not in {directory}")
    return data.drop(columns=[target]), data[target]


# -- preprocess -----------------------------------------------------------------------------


def preprocess_options(description: str) -> argparse.ArgumentParser:
    """The preprocess step's options; defaults are the Processing container paths."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--target-column", default="target")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--random-state", type=int, default=42)
    return parser


def read_dataset(input_dir: Path) -> pd.DataFrame:
    """All ``*.csv`` files under ``input_dir`` (sorted by path), concatenated."""
    files = csv_files(input_dir)
    if not files:
        raise DataError(f"no .csv file found under {input_dir}")
    frames = []
    for path in files:
        try:
            frames.append(pd.read_csv(path))
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise DataError(f"cannot read {path} as CSV: {error}") from error
    columns = list(frames[0].columns)
    for path, frame in zip(files[1:], frames[1:], strict=True):
        if list(frame.columns) != columns:
            raise DataError(f"{path} has columns {list(frame.columns)}, expected {columns}")
    return pd.concat(frames, ignore_index=True)


def numeric_features(data: pd.DataFrame, target: str) -> list[str]:
    """The feature columns (every column but ``target``, all numeric), or DataError."""
    if target not in data.columns:
        raise DataError(f"target column {target!r} not found; columns are {list(data.columns)}")
    features = [c for c in data.columns if c != target]
    if not features:
        raise DataError("no feature column besides the target column")
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(data[c])]
    if non_numeric:
        raise DataError(f"feature columns must be numeric; not numeric: {non_numeric}")
    return features


def cut(rows: np.ndarray, validation_fraction: float, test_fraction: float) -> dict[str, Any]:
    """``rows`` (shuffled) cut into train, validation and test by the fractions (rounded,
    test first); DataError for fractions that leave no training part."""
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1) or (
        validation_fraction + test_fraction >= 1
    ):
        raise DataError(
            "validation and test fractions must each be in (0, 1) and sum to less than 1; "
            f"got {validation_fraction} and {test_fraction}"
        )
    n_test = round(len(rows) * test_fraction)
    n_validation = round(len(rows) * validation_fraction)
    return {
        "train": rows[n_test + n_validation :],
        "validation": rows[n_test : n_test + n_validation],
        "test": rows[:n_test],
    }


def write_splits(splits: Splits, target: str, output_dir: Path) -> dict[str, int]:
    """Write the splits and the baseline dataset (training features only: the columns a
    request carries); return the row count of each file."""
    counts = {}
    for name, frame in splits.items():
        (output_dir / name).mkdir(parents=True, exist_ok=True)
        frame.to_csv(output_dir / name / f"{name}.csv", index=False)
        counts[name] = len(frame)
    baseline = splits["train"].drop(columns=[target])
    (output_dir / "baseline").mkdir(parents=True, exist_ok=True)
    baseline.to_csv(output_dir / "baseline" / "baseline.csv", index=False)
    counts["baseline"] = len(baseline)
    return counts


def run_preprocess(args: argparse.Namespace, make_splits: Callable[[pd.DataFrame], Splits]) -> int:
    """Read the dataset, split it with ``make_splits``, write the splits; 0 on success,
    2 with one line on stderr when the input data is unusable (DataError)."""
    try:
        splits = make_splits(read_dataset(args.input_dir))
        counts = write_splits(splits, args.target_column, args.output_dir)
    except DataError as error:
        print(f"preprocess: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"rows": counts, "features": splits["train"].shape[1] - 1}))
    return 0


# -- train ----------------------------------------------------------------------------------
# train.py runs in the scikit-learn training container in script mode: the training toolkit
# downloads the source archive named by the ``sagemaker_submit_directory`` hyperparameter,
# runs train.py (``sagemaker_program``) and passes the other hyperparameters as
# ``--name value`` options. Data and model locations come from the SM_CHANNEL_TRAIN,
# SM_CHANNEL_VALIDATION and SM_MODEL_DIR environment variables (or the options of the same
# meaning, for local runs).


def training_options(description: str) -> argparse.ArgumentParser:
    """Paths (defaults from the SM_* environment), target column and seed; the script
    adds its model's hyperparameters."""
    parser = argparse.ArgumentParser(description=description)
    env = os.environ.get
    parser.add_argument(
        "--train", type=Path, default=Path(env("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    )
    parser.add_argument(
        "--validation",
        type=Path,
        default=Path(env("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation")),
    )
    parser.add_argument(
        "--model-dir", type=Path, default=Path(env("SM_MODEL_DIR", "/opt/ml/model"))
    )
    parser.add_argument("--target_column", default="target")
    parser.add_argument("--random_state", type=int, default=42)
    return parser


def read_training_data(
    args: argparse.Namespace,
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """Training features and target, then validation features and target."""
    x_train, y_train = read_labelled(args.train, args.target_column, "train")
    x_valid, y_valid = read_labelled(args.validation, args.target_column, "train")
    if list(x_valid.columns) != list(x_train.columns):
        raise SystemExit("train: validation columns differ from training columns")
    return x_train, y_train, x_valid, y_valid


def imputed(name: str, estimator: Any) -> Pipeline:
    """``estimator`` (step ``name``) behind median imputation. Fit on a DataFrame, the
    pipeline keeps the feature names and count inference.py checks requests against."""
    return Pipeline([("impute", SimpleImputer(strategy="median")), (name, estimator)])


def save_model(model: Any, model_dir: Path, inference: Path) -> None:
    """``model.joblib``, and in ``code/`` the serving code: ``inference`` and
    ``step_serving.py``. The model archive then carries what serves it, which the
    registered model package points the serving container at (``/opt/ml/model/code``),
    so a package keeps working in any account that can read the archive."""
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / MODEL_FILE)
    code_dir = model_dir / "code"
    code_dir.mkdir(exist_ok=True)
    for source in (inference, SERVING_MODULE):
        shutil.copyfile(source, code_dir / source.name)


# -- evaluate -------------------------------------------------------------------------------


def evaluate_options(description: str) -> argparse.ArgumentParser:
    """The evaluate step's options; defaults are the Processing container paths."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/input/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/input/test"))
    parser.add_argument(
        "--output-dir", type=Path, default=Path("/opt/ml/processing/output/evaluation")
    )
    parser.add_argument("--target-column", default="target")
    parser.add_argument("--bootstrap-samples", type=int, default=200)
    parser.add_argument("--random-state", type=int, default=42)
    parser.add_argument(
        "--predictions-dir", type=Path, default=Path("/opt/ml/processing/output/predictions")
    )
    parser.add_argument(
        "--clarify-dir", type=Path, default=Path("/opt/ml/processing/output/clarify")
    )
    parser.add_argument(
        "--clarify",
        nargs="+",
        default=None,
        help="Clarify settings as JSON, cut into pieces of at most 256 characters (the"
        " limit of one container argument); the pieces are joined. Default: no Clarify.",
    )
    return parser


def load_model(model_dir: Path) -> Any:
    """The estimator inside ``model_dir/model.tar.gz`` (read in memory, nothing extracted)."""
    archive = model_dir / MODEL_ARCHIVE
    if not archive.is_file():
        raise SystemExit(f"evaluate: {archive} not found")
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar.getmembers():
            name = info.name[2:] if info.name.startswith("./") else info.name
            if name == MODEL_FILE and info.isfile():
                member = tar.extractfile(info)
                if member is not None:
                    return joblib.load(io.BytesIO(member.read()))
    raise SystemExit(f"evaluate: {archive} has no {MODEL_FILE} at its root")


def bootstrap_rows(rows: int, samples: int, seed: int) -> np.ndarray:
    """``samples`` x ``rows`` row indices drawn with replacement (seeded: reproducible)."""
    return np.random.default_rng(seed).integers(0, rows, size=(samples, rows))


def metrics_report(
    point: dict[str, np.ndarray],
    boot: dict[str, np.ndarray],
    names: tuple[str, ...],
    keep: np.ndarray | None = None,
) -> dict[str, Any]:
    """``{name: {"value", "standard_deviation"}}``: each metric's point value and the
    standard deviation of its bootstrap samples (those ``keep`` marks, else the finite ones)."""
    report: dict[str, Any] = {}
    for name in names:
        valid = boot[name][np.isfinite(boot[name]) if keep is None else keep]
        std = float(np.std(valid, ddof=1)) if len(valid) > 1 else 0.0
        report[name] = {"value": float(point[name][0]), "standard_deviation": std}
    return report


def write_report(report: dict[str, Any], output_dir: Path) -> None:
    """Write ``evaluation.json`` (sorted keys, no NaN) and print it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=True, allow_nan=False)
    (output_dir / REPORT_FILE).write_text(text + "\n", encoding="utf-8")
    print(text)


def write_predictions(
    output_dir: Path, labels: np.ndarray, predictions: np.ndarray, probabilities: Any = None
) -> Path:
    """Write ``predictions.csv``: a header, then one row per test record with its label,
    the model's prediction and (binary classification) the probability of label 1 - the
    dataset Model Monitor's model-quality baselining job reads (CSV with a header; the
    job is told the columns by name)."""
    columns: dict[str, Any] = {LABEL_COLUMN: labels, PREDICTION_COLUMN: predictions}
    if probabilities is not None:
        columns[PROBABILITY_COLUMN] = probabilities
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / PREDICTIONS_FILE
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


# -- Clarify ----------------------------------------------------------------------------------
# The analysis configs of the pipeline's ClarifyCheck steps are written here, at run time:
# their column names come from the data, a "mean" SHAP baseline is the test features' mean,
# and the pipeline definition stays free of uploads made while it is built.


def clarify_settings(pieces: list[str] | None) -> dict[str, Any] | None:
    """The ``--clarify`` pieces joined and parsed (None when there are none)."""
    return json.loads("".join(pieces)) if pieces else None


def clarify_configs(
    settings: dict[str, Any], features: pd.DataFrame, target: str
) -> dict[str, dict[str, Any]]:
    """Check name (``bias``, ``explainability``) -> its Clarify analysis config.

    ``settings`` (checked when the pipeline was built): ``predictor`` (the model's
    response paths: ``label``, and ``probability`` for a classifier), ``instance_type``,
    and ``bias`` (``label_values``, ``facets`` of ``name`` and ``values`` or
    ``threshold``) and/or ``explainability`` (``shap_baseline``: rows or ``"mean"``,
    ``num_samples``, ``agg_method``).
    """
    common: dict[str, Any] = {
        "dataset_type": "text/csv",
        "headers": [target, *features.columns],
        "label": target,
    }
    predictor = {
        "content_type": "text/csv",
        "accept_type": "application/json",
        "instance_type": settings["instance_type"],
        "initial_instance_count": 1,
    }
    paths = settings["predictor"]
    report = {"name": "report", "title": "Analysis Report"}
    configs: dict[str, dict[str, Any]] = {}
    bias = settings.get("bias")
    if bias:
        configs["bias"] = {
            **common,
            "label_values_or_threshold": list(bias["label_values"]),
            "facet": [
                {
                    "name_or_index": facet["name"],
                    "value_or_threshold": (
                        list(facet["values"]) if "values" in facet else [facet["threshold"]]
                    ),
                }
                for facet in bias["facets"]
            ],
            "methods": {"post_training_bias": {"methods": "all"}, "report": report},
            "predictor": {**predictor, "label": paths["label"]},
        }
    shap = settings.get("explainability")
    if shap:
        baseline = shap["shap_baseline"]
        if baseline == "mean":
            baseline = [[float(v) for v in features.mean(numeric_only=True).to_numpy()]]
        # SHAP explains the score: the probability of a classifier, a regressor's value.
        key = "probability" if "probability" in paths else "label"
        configs["explainability"] = {
            **common,
            "methods": {
                "shap": {
                    "baseline": baseline,
                    "num_samples": int(shap["num_samples"]),
                    "agg_method": shap["agg_method"],
                    "use_logit": False,
                    "save_local_shap_values": False,
                },
                "report": report,
            },
            "predictor": {**predictor, key: paths[key]},
        }
    return configs


def write_clarify(
    settings: dict[str, Any], features: pd.DataFrame, labels: Any, target: str, output_dir: Path
) -> list[Path]:
    """Write Clarify's dataset (no header, label first) and each check's analysis config
    under ``output_dir``; return the paths written."""
    dataset = output_dir / CLARIFY_DATASET
    dataset.parent.mkdir(parents=True, exist_ok=True)
    frame = features.copy()
    frame.insert(0, target, np.asarray(labels))
    frame.to_csv(dataset, index=False, header=False)
    written = [dataset]
    for check, config in clarify_configs(settings, features, target).items():
        path = output_dir / CLARIFY_CONFIGS[check]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
