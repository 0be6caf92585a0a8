"""Split the raw CSV (target column `target`, header row) into train, test and baseline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

IN = Path("/opt/ml/processing/input/raw")
OUT = Path("/opt/ml/processing/output")


def main() -> None:
    frame = pd.concat(pd.read_csv(p) for p in sorted(IN.glob("*.csv")))
    frame = frame[["target", *[c for c in frame.columns if c != "target"]]]
    test = frame.sample(frac=0.2, random_state=42)
    train = frame.drop(test.index)
    for name, part in (
        ("train", train),
        ("test", test),
        ("baseline", train.drop(columns="target")),
    ):
        (OUT / name).mkdir(parents=True, exist_ok=True)
        part.to_csv(OUT / name / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
