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

Each standard deviation is a seeded bootstrap over the test rows, so the report is the
same for the same model and data.
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
from scipy.stats import rankdata

REPORT_FILE = "evaluation.json"
MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "model.joblib"
METRICS = ("accuracy", "precision", "recall", "f1", "auc")


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
    """Test features and integer labels."""
    files = sorted(p for p in test_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise SystemExit(f"evaluate: no .csv file found under {test_dir}")
    data = pd.concat([pd.read_csv(path) for path in files], ignore_index=True)
    if target not in data.columns:
        raise SystemExit(f"evaluate: target column {target!r} not in {test_dir}")
    return data.drop(columns=[target]), data[target].to_numpy(dtype=np.int64)


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

    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y_true), size=(samples, len(y_true)))
    boot_true = y_true[index]
    both_classes = (boot_true.min(axis=1) == 0) & (boot_true.max(axis=1) == 1)
    boot = metric_samples(boot_true, y_pred[index], y_score[index])

    report: dict[str, Any] = {}
    for name in METRICS:
        valid = boot[name][both_classes]
        std = float(np.std(valid, ddof=1)) if len(valid) > 1 else 0.0
        report[name] = {"value": float(point[name][0]), "standard_deviation": std}
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

    args.output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=True, allow_nan=False)
    (args.output_dir / REPORT_FILE).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
