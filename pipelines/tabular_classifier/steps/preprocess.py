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
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


class DataError(ValueError):
    """The input data cannot be used; the message says why and what is expected."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults are the Processing container paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--target-column", default="target")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--random-state", type=int, default=42)
    return parser.parse_args(argv)


def read_dataset(input_dir: Path) -> pd.DataFrame:
    """All ``*.csv`` files under ``input_dir`` (sorted by path), concatenated."""
    files = sorted(p for p in input_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise DataError(f"no .csv file found under {input_dir}")
    frames = []
    for path in files:
        try:
            frames.append(pd.read_csv(path))
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise DataError(f"cannot read {path} as CSV: {error}") from error
    columns = list(frames[0].columns)
    for path, frame in zip(files[1:], frames[1:], strict=True):
        if list(frame.columns) != columns:
            raise DataError(f"{path} has columns {list(frame.columns)}, expected {columns}")
    return pd.concat(frames, ignore_index=True)


def validate(data: pd.DataFrame, target: str) -> pd.DataFrame:
    """The table with the label first and as int, or DataError naming the problem."""
    if target not in data.columns:
        raise DataError(f"target column {target!r} not found; columns are {list(data.columns)}")
    features = [c for c in data.columns if c != target]
    if not features:
        raise DataError("no feature column besides the target column")
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(data[c])]
    if non_numeric:
        raise DataError(f"feature columns must be numeric; not numeric: {non_numeric}")
    missing = int(data[target].isna().sum())
    if missing:
        raise DataError(f"{missing} row(s) have no value in target column {target!r}")
    labels = set(pd.unique(data[target]).tolist())
    if not labels <= {0, 1} or len(labels) != 2:
        raise DataError(f"target column {target!r} must hold the labels 0 and 1; found {labels}")
    return data[[target, *features]].astype({target: "int64"})


def split(
    data: pd.DataFrame, target: str, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, pd.DataFrame]:
    """Stratified train/validation/test split of ``data``.

    Each label's rows are shuffled with a generator seeded by ``seed`` and cut by the
    fractions (rounded), so every split has the label mix of the whole; rows keep their
    input order within a split.
    """
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1) or (
        validation_fraction + test_fraction >= 1
    ):
        raise DataError(
            "validation and test fractions must each be in (0, 1) and sum to less than 1; "
            f"got {validation_fraction} and {test_fraction}"
        )
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label in sorted(pd.unique(data[target]).tolist()):
        rows = rng.permutation(np.flatnonzero((data[target] == label).to_numpy()))
        n_test = round(len(rows) * test_fraction)
        n_validation = round(len(rows) * validation_fraction)
        if min(n_test, n_validation, len(rows) - n_test - n_validation) < 1:
            raise DataError(
                f"label {label} has {len(rows)} row(s): too few for a stratified "
                "train/validation/test split"
            )
        parts["test"].append(rows[:n_test])
        parts["validation"].append(rows[n_test : n_test + n_validation])
        parts["train"].append(rows[n_test + n_validation :])
    return {name: data.iloc[np.sort(np.concatenate(rows))] for name, rows in parts.items()}


def write_outputs(splits: dict[str, pd.DataFrame], target: str, output_dir: Path) -> dict[str, int]:
    """Write the splits and the baseline dataset; return the row count of each file."""
    counts = {}
    for name, frame in splits.items():
        (output_dir / name).mkdir(parents=True, exist_ok=True)
        frame.to_csv(output_dir / name / f"{name}.csv", index=False)
        counts[name] = len(frame)
    baseline = splits["train"].drop(columns=[target])
    (output_dir / "baseline").mkdir(parents=True, exist_ok=True)
    baseline.to_csv(output_dir / "baseline" / "baseline.csv", index=False)
    counts["baseline"] = len(baseline)
    return counts


def main(argv: list[str] | None = None) -> int:
    """Run the step; 0 on success, 2 when the input data is unusable."""
    args = parse_args(argv)
    try:
        data = validate(read_dataset(args.input_dir), args.target_column)
        splits = split(
            data,
            args.target_column,
            args.validation_fraction,
            args.test_fraction,
            args.random_state,
        )
        counts = write_outputs(splits, args.target_column, args.output_dir)
    except DataError as error:
        print(f"preprocess: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"rows": counts, "features": data.shape[1] - 1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
