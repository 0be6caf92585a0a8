"""A local run of the tabular classifier's step scripts, as the SageMaker jobs run them.

``run_locally`` writes scikit-learn's bundled breast-cancer dataset to a CSV and runs
preprocess -> train -> evaluate from the staged step code, as their containers do (see
``staged_run``), with the container paths swapped for local ones: the same scripts,
arguments and hyperparameters the pipeline definition gives the jobs. The data-quality baseline is
computed by the Model Monitor analyzer image, not a script, so it has no local
counterpart; its input (the baseline dataset) is produced by preprocess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import load_settings
from pipelines.tabular_classifier import pipeline as tabular

from . import staged_run


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
    predictions_csv: Path
    """Evaluate output: labels, predictions and probabilities of the test split."""
    clarify_dir: Path
    """Evaluate output with the model file's Clarify settings: dataset and configs."""
    target_column: str = tabular.TARGET_COLUMN

    def split(self, name: str) -> Path:
        """The CSV file of one split (train, validation, test or baseline)."""
        return self.splits_dir / name / f"{name}.csv"


def run_locally(root: Path) -> LocalPipelineRun:
    """Write the dataset, then run preprocess -> train -> evaluate."""
    from sklearn.datasets import load_breast_cancer

    raw_csv = root / "input" / "breast_cancer.csv"
    raw_csv.parent.mkdir()
    load_breast_cancer(as_frame=True).frame.to_csv(raw_csv, index=False)

    clarify = load_settings().models["tabular-classifier"].pipeline.parameters.get("clarify")
    run = staged_run.run_package(tabular, root, raw_csv.parent, clarify)
    return LocalPipelineRun(
        raw_csv=raw_csv,
        splits_dir=run.splits_dir,
        model_dir=run.model_dir,
        model_tar=run.model_tar,
        evaluation_json=run.evaluation_json,
        baseline_dataset=run.splits_dir / "baseline" / "baseline.csv",
        predictions_csv=run.predictions_csv,
        clarify_dir=run.clarify_dir,
    )
