"""Evaluate step: score the trained regressor on the test split and write ``evaluation.json``.

Runs as a SageMaker Processing job in the scikit-learn container (paths default to the
container's /opt/ml/processing layout) and locally for tests. Reads ``model.joblib`` out
of the training job's ``model.tar.gz`` and the test CSV (target first, with a header),
and writes the report in the SageMaker model-quality metrics shape for regression, which
the Model Registry shows and the pipeline's quality gate reads with ``Std:JsonGet``::

    {"regression_metrics": {
        "mae": {"value": 46.1, "standard_deviation": 3.9},
        "mse": {...}, "rmse": {...}, "r2": {...}}}

mae, mse and rmse are lower-is-better, r2 higher-is-better. Each standard deviation is
a seeded bootstrap over the test rows, so the report is the same for the same model and
data.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

REPORT_FILE = "evaluation.json"
MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "model.joblib"
METRICS = ("mae", "mse", "rmse", "r2")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults are the Processing container paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/input/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/input/test"))
    parser.add_argument(
        "--output-dir", type=Path, default=Path("/opt/ml/processing/output/evaluation")
    )
    parser.add_argument("--target-column", default="target")
    parser.add_argument("--bootstrap-samples", type=int, default=200)
    parser.add_argument("--random-state", type=int, default=42)
    return parser.parse_args(argv)


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


def read_test(test_dir: Path, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Test features and target values."""
    files = sorted(p for p in test_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise SystemExit(f"evaluate: no .csv file found under {test_dir}")
    data = pd.concat([pd.read_csv(path) for path in files], ignore_index=True)
    if target not in data.columns:
        raise SystemExit(f"evaluate: target column {target!r} not in {test_dir}")
    return data.drop(columns=[target]), data[target].to_numpy(dtype=float)


def metric_samples(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics for each row of 2-D (samples x rows) target/prediction arrays.

    r2 is NaN for a row whose targets are all equal (no variance to explain).
    """
    errors = y_true - y_pred
    squared = np.sum(errors**2, axis=1)
    total = np.sum((y_true - y_true.mean(axis=1, keepdims=True)) ** 2, axis=1)
    unexplained = np.full(squared.shape, np.nan)
    np.divide(squared, total, out=unexplained, where=total > 0)
    mse = squared / y_true.shape[1]
    return {
        "mae": np.mean(np.abs(errors), axis=1),
        "mse": mse,
        "rmse": np.sqrt(mse),
        "r2": 1.0 - unexplained,
    }


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, samples: int, seed: int) -> dict[str, Any]:
    """The report: point metrics and their bootstrap standard deviations."""
    if len(y_true) < 2 or np.ptp(y_true) == 0:
        raise SystemExit("evaluate: the test split needs at least 2 different target values")
    point = metric_samples(y_true[None, :], y_pred[None, :])

    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y_true), size=(samples, len(y_true)))
    boot = metric_samples(y_true[index], y_pred[index])

    report: dict[str, Any] = {}
    for name in METRICS:
        valid = boot[name][np.isfinite(boot[name])]
        std = float(np.std(valid, ddof=1)) if len(valid) > 1 else 0.0
        report[name] = {"value": float(point[name][0]), "standard_deviation": std}
    return {"regression_metrics": report}


def main(argv: list[str] | None = None) -> int:
    """Run the step; 0 on success."""
    args = parse_args(argv)
    model = load_model(args.model_dir)
    features, y_true = read_test(args.test_dir, args.target_column)
    y_pred = np.asarray(model.predict(features), dtype=float)
    report = evaluate(y_true, y_pred, args.bootstrap_samples, args.random_state)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=True, allow_nan=False)
    (args.output_dir / REPORT_FILE).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
