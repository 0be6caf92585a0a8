"""The training dataset: scikit-learn's bundled diabetes data as one CSV (no download).

    python -m pipelines.diabetes_regressor.dataset diabetes.csv
    aws s3 cp diabetes.csv s3://<artifact bucket>/datasets/diabetes-regressor/

Columns: the 10 features in ``pipeline.FEATURES`` order, then ``target``; 442 rows.
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_dataset(path: Path) -> Path:
    """Write the dataset to ``path`` (its folder is created) and return ``path``."""
    from sklearn.datasets import load_diabetes

    path.parent.mkdir(parents=True, exist_ok=True)
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m pipelines.diabetes_regressor.dataset <output.csv>")
    print(write_dataset(Path(sys.argv[1])))
