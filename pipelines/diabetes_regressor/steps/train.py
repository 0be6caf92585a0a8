"""Train step: fit a gradient-boosting regressor and save it as ``model.joblib``.

Runs in the SageMaker scikit-learn training container in script mode: the container's
training toolkit downloads the source archive named by the ``sagemaker_submit_directory``
hyperparameter, runs this file (``sagemaker_program``) and passes the other
hyperparameters as ``--name value`` options. Data and model locations come from the
``SM_CHANNEL_TRAIN``, ``SM_CHANNEL_VALIDATION`` and ``SM_MODEL_DIR`` environment variables
(or the options of the same meaning, for local runs).

The model is a scikit-learn ``Pipeline`` (median imputation, then gradient boosting) fit
on a DataFrame, so it carries its feature names and count for ``inference.py`` to check
requests against. ``inference.py`` (shipped beside this file) is copied to
``<model dir>/code/``: the model archive then carries its own serving code, which the
registered model package points the serving container at (``/opt/ml/model/code``).
Validation metrics are printed as ``validation:<name>=<value>;`` lines (rmse, mae, r2),
the form the training job's metric definitions capture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline

MODEL_FILE = "model.joblib"
SERVING_CODE = ("inference.py",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Hyperparameters and paths; path defaults come from the SM_* environment."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    parser.add_argument("--n_estimators", type=int, default=200)
    parser.add_argument("--learning_rate", type=float, default=0.03)
    parser.add_argument("--max_depth", type=int, default=2)
    parser.add_argument("--subsample", type=float, default=0.8)
    parser.add_argument("--random_state", type=int, default=42)
    return parser.parse_args(argv)


def read_split(channel_dir: Path, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target values from the CSV file(s) of one input channel."""
    files = sorted(p for p in channel_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise SystemExit(f"train: no .csv file found under {channel_dir}")
    data = pd.concat([pd.read_csv(path) for path in files], ignore_index=True)
    if target not in data.columns:
        raise SystemExit(f"train: target column {target!r} not in {channel_dir}")
    return data.drop(columns=[target]), data[target].astype("float64")


def build_model(args: argparse.Namespace) -> Pipeline:
    """The untrained estimator, configured from the hyperparameters."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            (
                "regress",
                GradientBoostingRegressor(
                    n_estimators=args.n_estimators,
                    learning_rate=args.learning_rate,
                    max_depth=args.max_depth,
                    subsample=args.subsample,
                    random_state=args.random_state,
                ),
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Fit, report validation metrics, save the model; 0 on success."""
    args = parse_args(argv)
    x_train, y_train = read_split(args.train, args.target_column)
    x_valid, y_valid = read_split(args.validation, args.target_column)
    if list(x_valid.columns) != list(x_train.columns):
        raise SystemExit("train: validation columns differ from training columns")

    model = build_model(args).fit(x_train, y_train)

    predicted = model.predict(x_valid)
    print(f"validation:rmse={np.sqrt(mean_squared_error(y_valid, predicted)):.6f};")
    print(f"validation:mae={mean_absolute_error(y_valid, predicted):.6f};")
    print(f"validation:r2={r2_score(y_valid, predicted):.6f};")

    args.model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.model_dir / MODEL_FILE)
    code_dir = args.model_dir / "code"
    code_dir.mkdir(exist_ok=True)
    for name in SERVING_CODE:
        shutil.copyfile(Path(__file__).resolve().parent / name, code_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
