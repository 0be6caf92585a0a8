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
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

MIN_ROWS_PER_SPLIT = 5
"""Fewer rows in any split and the metrics would mean little."""


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
    """The table with the target first and as float, or DataError naming the problem."""
    if target not in data.columns:
        raise DataError(f"target column {target!r} not found; columns are {list(data.columns)}")
    features = [c for c in data.columns if c != target]
    if not features:
        raise DataError("no feature column besides the target column")
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(data[c])]
    if non_numeric:
        raise DataError(f"feature columns must be numeric; not numeric: {non_numeric}")
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
) -> dict[str, pd.DataFrame]:
    """Seeded train/validation/test split of ``data``, cut by the fractions (rounded)."""
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1) or (
        validation_fraction + test_fraction >= 1
    ):
        raise DataError(
            "validation and test fractions must each be in (0, 1) and sum to less than 1; "
            f"got {validation_fraction} and {test_fraction}"
        )
    rows = np.random.default_rng(seed).permutation(len(data))
    n_test = round(len(rows) * test_fraction)
    n_validation = round(len(rows) * validation_fraction)
    if min(n_test, n_validation, len(rows) - n_test - n_validation) < MIN_ROWS_PER_SPLIT:
        raise DataError(
            f"{len(rows)} row(s): too few for a train/validation/test split with at least "
            f"{MIN_ROWS_PER_SPLIT} rows each"
        )
    parts = {
        "test": rows[:n_test],
        "validation": rows[n_test : n_test + n_validation],
        "train": rows[n_test + n_validation :],
    }
    return {name: data.iloc[np.sort(parts[name])] for name in ("train", "validation", "test")}


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
        splits = split(data, args.validation_fraction, args.test_fraction, args.random_state)
        counts = write_outputs(splits, args.target_column, args.output_dir)
    except DataError as error:
        print(f"preprocess: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"rows": counts, "features": data.shape[1] - 1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
