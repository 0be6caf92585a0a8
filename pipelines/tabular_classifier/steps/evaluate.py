"""Evaluate step: score the trained model on the test split and write ``evaluation.json``.

Runs as a SageMaker Processing job in the scikit-learn container (paths default to the
container's /opt/ml/processing layout) and locally for tests. Reads ``model.joblib`` out
of the training job's ``model.tar.gz`` and the test CSV (label first, with a header), and
writes the report in the SageMaker model-quality metrics shape, which the Model Registry
shows and the pipeline's quality gate reads with ``Std:JsonGet``::

    {"binary_classification_metrics": {
        "accuracy": {"value": 0.96, "standard_deviation": 0.02},
        "precision": {...}, "recall": {...}, "f1": {...}, "auc": {...},
        "confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}}}

It also writes ``predictions.csv`` (``label,prediction,probability``: the test split's
labels, predicted labels and probabilities of label 1), the dataset of the pipeline's
model-quality baseline, and with ``--clarify`` the ClarifyCheck steps' dataset and
analysis configs (``step_common.write_clarify``).

Each standard deviation is a seeded bootstrap over the test rows, so the report is the
same for the same model and data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

try:  # in the repository
    from pipelines._steps import step_common as common
except ModuleNotFoundError:  # in the job's container: staged beside this script
    import step_common as common  # type: ignore[no-redef]

REPORT_FILE = common.REPORT_FILE
METRICS = ("accuracy", "precision", "recall", "f1", "auc")
load_model = common.load_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults are the Processing container paths."""
    return common.evaluate_options(__doc__.splitlines()[0]).parse_args(argv)


def read_test(test_dir: Path, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Test features and integer labels."""
    features, labels = common.read_labelled(test_dir, target, "evaluate")
    return features, labels.to_numpy(dtype=np.int64)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 0 where den is 0 (e.g. precision with no positive prediction)."""
    out = np.zeros(np.shape(num), dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def metric_samples(
    y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics for each row of 2-D (samples x rows) label/prediction/score arrays."""
    tp = np.sum((y_true == 1) & (y_pred == 1), axis=1)
    fp = np.sum((y_true == 0) & (y_pred == 1), axis=1)
    fn = np.sum((y_true == 1) & (y_pred == 0), axis=1)
    precision = _safe_ratio(tp, tp + fp)
    recall = _safe_ratio(tp, tp + fn)
    positives = np.sum(y_true == 1, axis=1)
    negatives = y_true.shape[1] - positives
    ranks = np.apply_along_axis(rankdata, 1, y_score)  # average ranks handle ties
    rank_sum = np.sum(np.where(y_true == 1, ranks, 0.0), axis=1)
    auc = _safe_ratio(rank_sum - positives * (positives + 1) / 2.0, positives * negatives)
    return {
        "accuracy": np.mean(y_true == y_pred, axis=1),
        "precision": precision,
        "recall": recall,
        "f1": _safe_ratio(2 * precision * recall, precision + recall),
        "auc": auc,
    }


def evaluate(
    y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray, samples: int, seed: int
) -> dict[str, Any]:
    """The report: point metrics, bootstrap standard deviations, confusion matrix."""
    if set(np.unique(y_true).tolist()) != {0, 1}:
        raise SystemExit("evaluate: the test split must contain both labels 0 and 1")
    point = metric_samples(y_true[None, :], y_pred[None, :], y_score[None, :])

    index = common.bootstrap_rows(len(y_true), samples, seed)
    boot_true = y_true[index]
    both_classes = (boot_true.min(axis=1) == 0) & (boot_true.max(axis=1) == 1)
    boot = metric_samples(boot_true, y_pred[index], y_score[index])

    report = common.metrics_report(point, boot, METRICS, keep=both_classes)
    report["confusion_matrix"] = {
        str(actual): {
            str(predicted): int(np.sum((y_true == actual) & (y_pred == predicted)))
            for predicted in (0, 1)
        }
        for actual in (0, 1)
    }
    return {"binary_classification_metrics": report}


def main(argv: list[str] | None = None) -> int:
    """Run the step; 0 on success."""
    args = parse_args(argv)
    model = load_model(args.model_dir)
    features, y_true = read_test(args.test_dir, args.target_column)
    y_score = model.predict_proba(features)[:, 1]
    y_pred = model.predict(features).astype(np.int64)
    report = evaluate(y_true, y_pred, y_score, args.bootstrap_samples, args.random_state)
    common.write_report(report, args.output_dir)
    common.write_predictions(args.predictions_dir, y_true, y_pred, y_score)
    settings = common.clarify_settings(args.clarify)
    if settings:
        common.write_clarify(settings, features, y_true, args.target_column, args.clarify_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
