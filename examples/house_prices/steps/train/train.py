"""Fit a ridge regression on the `train` channel; save it with its inference code."""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import pandas as pd
from sklearn.linear_model import Ridge

TRAIN = Path("/opt/ml/input/data/train")
MODEL = Path("/opt/ml/model")


def main() -> None:
    frame = pd.concat(pd.read_csv(p) for p in sorted(TRAIN.glob("*.csv")))
    model = Ridge(alpha=1.0).fit(frame.drop(columns="target"), frame["target"])
    joblib.dump(model, MODEL / "model.joblib")
    (MODEL / "code").mkdir(exist_ok=True)
    shutil.copy(Path(__file__).with_name("inference.py"), MODEL / "code" / "inference.py")


if __name__ == "__main__":
    main()
