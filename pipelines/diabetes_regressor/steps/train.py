"""Train step: fit a gradient-boosting regressor and save it as ``model.joblib``.

Runs in the scikit-learn training container in script mode (``step_common`` says how it
gets its options and data); the model archive gets its serving code beside the model
(``step_common.save_model``). The validation rmse, mae and r2 are printed as
``validation:<name>=<value>;`` lines, the form the training job's metric definitions
capture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

try:  # in the repository
    from pipelines._steps import step_common as common
except ModuleNotFoundError:  # in the job's container: staged beside this script
    import step_common as common  # type: ignore[no-redef]

MODEL_FILE = common.MODEL_FILE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Hyperparameters and paths; path defaults come from the SM_* environment."""
    parser = common.training_options(__doc__.splitlines()[0])
    parser.add_argument("--n_estimators", type=int, default=200)
    parser.add_argument("--learning_rate", type=float, default=0.03)
    parser.add_argument("--max_depth", type=int, default=2)
    parser.add_argument("--subsample", type=float, default=0.8)
    return parser.parse_args(argv)


def build_model(args: argparse.Namespace) -> Any:
    """The untrained estimator, configured from the hyperparameters."""
    return common.imputed(
        "regress",
        GradientBoostingRegressor(
            n_estimators=args.n_estimators,
            learning_rate=args.learning_rate,
            max_depth=args.max_depth,
            subsample=args.subsample,
            random_state=args.random_state,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Fit, report validation metrics, save the model; 0 on success."""
    args = parse_args(argv)
    x_train, y_train, x_valid, y_valid = common.read_training_data(args)
    model = build_model(args).fit(x_train, y_train.astype("float64"))

    predicted = model.predict(x_valid)
    y_valid = y_valid.astype("float64")
    print(f"validation:rmse={np.sqrt(mean_squared_error(y_valid, predicted)):.6f};")
    print(f"validation:mae={mean_absolute_error(y_valid, predicted):.6f};")
    print(f"validation:r2={r2_score(y_valid, predicted):.6f};")

    common.save_model(model, args.model_dir, Path(__file__).resolve().with_name("inference.py"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
