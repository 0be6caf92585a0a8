"""Preprocess step: split a labelled CSV dataset into train, validation and test sets.

Runs as a SageMaker Processing job in the scikit-learn container (paths default to the
container's /opt/ml/processing layout) and locally for tests (pass other paths). Reads
every ``*.csv`` under the input directory, checks the data is a numeric binary
classification table, and writes, each with a header and the label as the first column:

    <output>/train/train.csv
    <output>/validation/validation.csv
    <output>/test/test.csv
    <output>/baseline/baseline.csv   training features only (no label), the dataset the
                                     Model Monitor data-quality baseline describes: the
                                     columns an inference request carries, in order.

The split is stratified and seeded (numpy's PCG64 generator), so the same input always
gives the same files.
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults are the Processing container paths."""
    return common.preprocess_options(__doc__.splitlines()[0]).parse_args(argv)


def validate(data: pd.DataFrame, target: str) -> pd.DataFrame:
    """The table with the label first and as int, or DataError naming the problem."""
    features = common.numeric_features(data, target)
    missing = int(data[target].isna().sum())
    if missing:
        raise DataError(f"{missing} row(s) have no value in target column {target!r}")
    labels = set(pd.unique(data[target]).tolist())
    if not labels <= {0, 1} or len(labels) != 2:
        raise DataError(f"target column {target!r} must hold the labels 0 and 1; found {labels}")
    return data[[target, *features]].astype({target: "int64"})


def split(
    data: pd.DataFrame, target: str, validation_fraction: float, test_fraction: float, seed: int
) -> common.Splits:
    """Stratified train/validation/test split of ``data``.

    Each label's rows are shuffled with a generator seeded by ``seed`` and cut by the
    fractions (rounded), so every split has the label mix of the whole; rows keep their
    input order within a split.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label in sorted(pd.unique(data[target]).tolist()):
        rows = rng.permutation(np.flatnonzero((data[target] == label).to_numpy()))
        cuts = common.cut(rows, validation_fraction, test_fraction)
        if min(len(part) for part in cuts.values()) < 1:
            raise DataError(
                f"label {label} has {len(rows)} row(s): too few for a stratified "
                "train/validation/test split"
            )
        for name, part in cuts.items():
            parts[name].append(part)
    return {name: data.iloc[np.sort(np.concatenate(rows))] for name, rows in parts.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the step; 0 on success, 2 when the input data is unusable."""
    args = parse_args(argv)

    def splits(data: pd.DataFrame) -> common.Splits:
        labelled = validate(data, args.target_column)
        return split(
            labelled,
            args.target_column,
            args.validation_fraction,
            args.test_fraction,
            args.random_state,
        )

    return common.run_preprocess(args, splits)


if __name__ == "__main__":
    sys.exit(main())
