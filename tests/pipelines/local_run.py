"""A local run of the tabular classifier's step scripts, as the SageMaker jobs run them.

``run_locally`` writes scikit-learn's bundled breast-cancer dataset to a CSV and runs
preprocess -> train -> evaluate, each in a fresh interpreter (``sys.executable``), with
the container paths swapped for local ones: the same scripts, arguments and
hyperparameters the pipeline definition gives the jobs. The data-quality baseline is
computed by the Model Monitor analyzer image, not a script, so it has no local
counterpart; its input (the baseline dataset) is produced by preprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.tabular_classifier import pipeline as tabular

STEPS = tabular.STEPS_DIR


@dataclass(frozen=True)
class LocalPipelineRun:
    """Where one local run of the step scripts left its inputs and outputs."""

    raw_csv: Path
    """The input dataset (label column ``target``, 30 numeric features)."""
    splits_dir: Path
    """Preprocess output: ``{train,validation,test,baseline}/<name>.csv``."""
    model_dir: Path
    """Train output (SM_MODEL_DIR): ``model.joblib`` and ``code/inference.py``."""
    model_tar: Path
    """``model_dir`` packed the way SageMaker packs it (``model.tar.gz``)."""
    evaluation_json: Path
    """Evaluate output: the model-quality report the quality gate reads."""
    baseline_dataset: Path
    """Training features without the label: what the data-quality baseline describes."""
    target_column: str = tabular.TARGET_COLUMN

    def split(self, name: str) -> Path:
        """The CSV file of one split (train, validation, test or baseline)."""
        return self.splits_dir / name / f"{name}.csv"


def run_step(script: str, *args: str | Path, env: dict[str, str] | None = None) -> str:
    """Run ``steps/<script>`` in a fresh interpreter; return stdout, fail with stderr."""
    result = subprocess.run(
        [sys.executable, str(STEPS / script), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{script} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def pack_model(model_dir: Path, archive: Path) -> Path:
    """tar.gz the contents of ``model_dir`` at the archive root, as training jobs do."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    return archive


def run_locally(root: Path) -> LocalPipelineRun:
    """Write the dataset, then preprocess -> train -> evaluate, each in its own interpreter."""
    from sklearn.datasets import load_breast_cancer

    raw_csv = root / "input" / "breast_cancer.csv"
    raw_csv.parent.mkdir()
    load_breast_cancer(as_frame=True).frame.to_csv(raw_csv, index=False)

    splits = root / "splits"
    run_step(
        "preprocess.py",
        *tabular.PREPROCESS_ARGUMENTS,
        "--input-dir",
        raw_csv.parent,
        "--output-dir",
        splits,
    )

    model_dir = root / "model"
    # As the training toolkit passes them: one "--name value" pair per hyperparameter.
    hyperparameters = [
        token for k, v in tabular.TRAIN_HYPERPARAMETERS.items() for token in (f"--{k}", str(v))
    ]
    run_step(
        "train.py",
        *hyperparameters,
        env={
            "SM_CHANNEL_TRAIN": str(splits / "train"),
            "SM_CHANNEL_VALIDATION": str(splits / "validation"),
            "SM_MODEL_DIR": str(model_dir),
        },
    )
    model_tar = pack_model(model_dir, root / "training_output" / "model.tar.gz")

    evaluation = root / "evaluation"
    run_step(
        "evaluate.py",
        *tabular.EVALUATE_ARGUMENTS,
        "--model-dir",
        model_tar.parent,
        "--test-dir",
        splits / "test",
        "--output-dir",
        evaluation,
    )
    return LocalPipelineRun(
        raw_csv=raw_csv,
        splits_dir=splits,
        model_dir=model_dir,
        model_tar=model_tar,
        evaluation_json=evaluation / tabular.EVALUATION_REPORT,
        baseline_dataset=splits / "baseline" / "baseline.csv",
    )
