"""Shared set-up for the dry-run tests: the synthesized reference app (one synth per test
run, shared with the app tests) and copies of it with one thing changed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import synthesized_once

CLASSIFIER, REGRESSOR = "tabular-classifier", "diabetes-regressor"
CLASSIFIER_STACK = "mlops-tabular-classifier-build"
REGRESSOR_STACK = "mlops-diabetes-regressor-build"
ARTIFACTS = "mlops-artifacts-111111111111-eu-west-1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dry_run_e2e: runs the reference pipelines end to end (once per session)"
    )


@pytest.fixture(scope="session")
def assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped app's cloud assembly."""
    return synthesized_once(tmp_path_factory, "shipped", lambda root: None).outdir


def classifier_dataset(folder: Path) -> Path:
    """scikit-learn's breast-cancer data as the classifier's CSV (its package declares
    no dataset module yet)."""
    from sklearn.datasets import load_breast_cancer

    path = folder / "breast_cancer.csv"
    folder.mkdir(parents=True, exist_ok=True)
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


def datasets(folder: Path) -> dict[str, Path]:
    """Explicit datasets for pipelines whose package has no `dataset` module."""
    try:
        import pipelines.tabular_classifier.dataset  # noqa: F401
    except ImportError:
        uri = f"s3://{ARTIFACTS}/datasets/{CLASSIFIER}/"
        return {uri: classifier_dataset(folder)}
    return {}


def mutated(source: Path, target: Path, stack: str, change: Callable[[str], str]) -> Path:
    """A copy of the assembly at `source` whose `stack` template text went through
    `change` (assets linked, not copied)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.name.startswith("asset."):
            (target / path.name).symlink_to(path)
        elif path.is_file():
            shutil.copyfile(path, target / path.name)
    template = target / f"{stack}.template.json"
    text = template.read_text()
    changed = change(text)
    assert changed != text, "the mutation changed nothing"
    json.loads(changed)
    template.write_text(changed)
    return target


def replace_once(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    """A change replacing the first `count` occurrences of `old` (as it appears inside the
    JSON-encoded definition) by `new`."""

    def change(text: str) -> str:
        encoded_old, encoded_new = (json.dumps(s)[1:-1] for s in (old, new))
        assert encoded_old in text, f"{old!r} not in the template"
        return text.replace(encoded_old, encoded_new, count)

    return change


def steps_run(run: Any) -> list[str]:
    return [s.name for s in run.steps if s.status not in ("NotRun", "Skipped")]
