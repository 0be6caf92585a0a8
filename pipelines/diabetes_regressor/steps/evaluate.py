"""Evaluate step: score the trained regressor on the test split and write ``evaluation.json``.

Runs as a SageMaker Processing job in the scikit-learn container (paths default to the
container's /opt/ml/processing layout) and locally for tests. Reads ``model.joblib`` out
of the training job's ``model.tar.gz`` and the test CSV (target first, with a header),
and writes the report in the SageMaker model-quality metrics shape for regression, which
the Model Registry shows and the pipeline's quality gate reads with ``Std:JsonGet``::

    {"regression_metrics": {
        "mae": {"value": 46.1, "standard_deviation": 3.9},
        "mse": {...}, "rmse": {...}, "r2": {...}}}

It also writes ``predictions.csv`` (``label,prediction``: the test split's targets and
predictions), the dataset of the pipeline's model-quality baseline, and with
``--clarify`` the ClarifyCheck steps' dataset and analysis configs.

mae, mse and rmse are lower-is-better, r2 higher-is-better. Each standard deviation is
a seeded bootstrap over the test rows, so the report is the same for the same model and
data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:  # in the repository
    from pipelines._steps import step_common as common
except ModuleNotFoundError:  # in the job's container: staged beside this script
    import step_common as common  # type: ignore[no-redef]

REPORT_FILE = common.REPORT_FILE
METRICS = ("mae", "mse", "rmse", "r2")
load_model = common.load_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults are the Processing container paths."""
    return common.evaluate_options(__doc__.splitlines()[0]).parse_args(argv)


def read_test(test_dir: Path, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Test features and target values."""
    features, values = common.read_labelled(test_dir, target, "evaluate")
    return features, values.to_numpy(dtype=float)


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
    index = common.bootstrap_rows(len(y_true), samples, seed)
    boot = metric_samples(y_true[index], y_pred[index])
    return {"regression_metrics": common.metrics_report(point, boot, METRICS)}


def main(argv: list[str] | None = None) -> int:
    """Run the step; 0 on success."""
    args = parse_args(argv)
    model = load_model(args.model_dir)
    features, y_true = read_test(args.test_dir, args.target_column)
    y_pred = np.asarray(model.predict(features), dtype=float)
    report = evaluate(y_true, y_pred, args.bootstrap_samples, args.random_state)
    common.write_report(report, args.output_dir)
    common.write_predictions(args.predictions_dir, y_true, y_pred)
    settings = common.clarify_settings(args.clarify)
    if settings:
        common.write_clarify(settings, features, y_true, args.target_column, args.clarify_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
