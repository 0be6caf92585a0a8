"""Score the model on the test split; write SageMaker's regression metrics report."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

BASE = Path("/opt/ml/processing")


def main() -> None:
    with tarfile.open(BASE / "input/model/model.tar.gz") as tar:
        tar.extractall(BASE / "model", filter="data")
    model = joblib.load(BASE / "model/model.joblib")
    test = pd.concat(pd.read_csv(p) for p in sorted((BASE / "input/test").glob("*.csv")))
    truth, predicted = test["target"], model.predict(test.drop(columns="target"))
    mse = mean_squared_error(truth, predicted)
    metrics = {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": mean_absolute_error(truth, predicted),
        "r2": r2_score(truth, predicted),
    }
    report = {"regression_metrics": {k: {"value": float(v)} for k, v in metrics.items()}}
    out = BASE / "output/evaluation"
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
