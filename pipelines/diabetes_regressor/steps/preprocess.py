"""Preprocess step: split a CSV regression dataset into train, validation and test sets.

Runs as a SageMaker Processing job in the scikit-learn container (paths default to the
container's /opt/ml/processing layout) and locally for tests (pass other paths). Reads
every ``*.csv`` under the input directory, checks the data is a numeric table with a
numeric target, and writes, each with a header and the target as the first column:

    <output>/train/train.csv
    <output>/validation/validation.csv
    <output>/test/test.csv
    <output>/baseline/baseline.csv   training features only (no target), the dataset the
                                     Model Monitor data-quality baseline describes: the
                                     columns an inference request carries, in order.

The split is a seeded shuffle (numpy's PCG64 generator), so the same input always gives
the same files; rows keep their input order within a split.
Bad input exits with status 2 and one line on stderr saying what is wrong.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

try:  # in the repository
    from pipelines._steps import step_common as common
except ModuleNotFoundError:  # in the job's container: staged beside this script
    import step_common as common  # type: ignore[no-redef]

DataError = common.DataError

MIN_ROWS_PER_SPLIT = 5
"""Fewer rows in any split and the metrics would mean little."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults are the Processing container paths."""
    return common.preprocess_options(__doc__.splitlines()[0]).parse_args(argv)


def validate(data: pd.DataFrame, target: str) -> pd.DataFrame:
    """The table with the target first and as float, or DataError naming the problem."""
    features = common.numeric_features(data, target)
    if not pd.api.types.is_numeric_dtype(data[target]) or pd.api.types.is_bool_dtype(data[target]):
        raise DataError(f"target column {target!r} must be numeric; found {data[target].dtype}")
    values = data[target].to_numpy(dtype=float)
    missing = int(np.isnan(values).sum())
    if missing:
        raise DataError(f"{missing} row(s) have no value in target column {target!r}")
    if not np.isfinite(values).all():
        raise DataError(f"target column {target!r} holds an infinite value")
    return data[[target, *features]].astype({target: "float64"})


def split(
    data: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int
) -> common.Splits:
    """Seeded train/validation/test split of ``data``, cut by the fractions (rounded)."""
    rows = np.random.default_rng(seed).permutation(len(data))
    parts = common.cut(rows, validation_fraction, test_fraction)
    if min(len(part) for part in parts.values()) < MIN_ROWS_PER_SPLIT:
        raise DataError(
            f"{len(rows)} row(s): too few for a train/validation/test split with at least "
            f"{MIN_ROWS_PER_SPLIT} rows each"
        )
    return {name: data.iloc[np.sort(part)] for name, part in parts.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the step; 0 on success, 2 when the input data is unusable."""
    args = parse_args(argv)

    def splits(data: pd.DataFrame) -> common.Splits:
        table = validate(data, args.target_column)
        return split(table, args.validation_fraction, args.test_fraction, args.random_state)

    return common.run_preprocess(args, splits)


if __name__ == "__main__":
    sys.exit(main())
