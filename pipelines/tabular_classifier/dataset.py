"""The training dataset: scikit-learn's bundled breast-cancer data as one CSV (no download).

    python -m pipelines.tabular_classifier.dataset breast_cancer.csv
    aws s3 cp breast_cancer.csv s3://<artifact bucket>/datasets/tabular-classifier/

Columns: the 30 features, then ``target`` (1 benign, 0 malignant); 569 rows. The dry run
(`make dry-run`) seeds the pipeline's dataset prefix with it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_dataset(path: Path) -> Path:
    """Write the dataset to ``path`` (its folder is created) and return ``path``."""
    from sklearn.datasets import load_breast_cancer

    path.parent.mkdir(parents=True, exist_ok=True)
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m pipelines.tabular_classifier.dataset <output.csv>")
    print(write_dataset(Path(sys.argv[1])))
