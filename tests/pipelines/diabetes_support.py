"""Shared set-up for the diabetes regressor tests: one local run of the step scripts and
one built definition per test process.

``run_locally`` writes scikit-learn's bundled diabetes data to a CSV and runs preprocess
-> train -> evaluate from the staged step code, as their containers do (see
``staged_run``), with the container paths swapped for local ones: the same scripts,
arguments and hyperparameters the pipeline definition gives the jobs. The data-quality baseline is computed by the
Model Monitor analyzer image, not a script; its input (the baseline dataset) is
produced by preprocess.

The fixtures below are imported by each ``test_diabetes_*`` module; the run and the build
are cached here, so modules share them, and the run happens in a background thread (the
steps are subprocesses) while the SDK builds the definition.
"""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.diabetes_regressor import dataset
from pipelines.diabetes_regressor import pipeline as diabetes

from . import staged_run

NAME = "diabetes-regressor"
GROUP = "diabetes-regressor-models"
REGION = "eu-west-1"
COMMON = {"pipeline_name": NAME, "model_package_group_name": GROUP, "region": REGION}


@dataclass(frozen=True)
class DiabetesRun:
    """Where one local run of the step scripts left its inputs and outputs."""

    raw_csv: Path
    """The input dataset (10 features, then ``target``)."""
    splits_dir: Path
    """Preprocess output: ``{train,validation,test,baseline}/<name>.csv``."""
    model_dir: Path
    """Train output (SM_MODEL_DIR): ``model.joblib`` and ``code/inference.py``."""
    model_tar: Path
    """``model_dir`` packed the way SageMaker packs it (``model.tar.gz``)."""
    train_log: str
    """What train.py printed (the training job's metric definitions read it)."""
    evaluation_json: Path
    """Evaluate output: the model-quality report the quality gate reads."""
    predictions_csv: Path
    """Evaluate output: targets and predictions of the test split."""

    def split(self, name: str) -> Path:
        """The CSV file of one split (train, validation, test or baseline)."""
        return self.splits_dir / name / f"{name}.csv"


def run_locally(root: Path) -> DiabetesRun:
    """Write the dataset, then run preprocess -> train -> evaluate."""
    raw_csv = dataset.write_dataset(root / "input" / "diabetes.csv")
    run = staged_run.run_package(diabetes, root, raw_csv.parent)
    return DiabetesRun(
        raw_csv=raw_csv,
        splits_dir=run.splits_dir,
        model_dir=run.model_dir,
        model_tar=run.model_tar,
        train_log=run.train_log,
        evaluation_json=run.evaluation_json,
        predictions_csv=run.predictions_csv,
    )


@dataclass(frozen=True)
class Built:
    """One build: the rendered definition and the network use it attempted."""

    text: str
    definition: dict[str, Any]
    network_attempts: list[str]


def build_offline() -> Built:
    """Build and render the definition with every way of connecting refused and recorded."""
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{name}{args[1:]}")
            raise OSError(f"network access during the definition build: {name}")

        return blocked

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
        monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
        monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
        monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
        text = diabetes.build_pipeline(**COMMON).definition()
    return Built(text=text, definition=json.loads(text), network_attempts=attempts)


_LOCK = threading.Lock()
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diabetes-run")
_CACHE: dict[str, Any] = {}


def started_run(tmp_path_factory: pytest.TempPathFactory) -> Future[DiabetesRun]:
    """The process's one local run, started in the background on first call."""
    with _LOCK:
        if "run" not in _CACHE:
            _CACHE["run"] = _POOL.submit(run_locally, tmp_path_factory.mktemp("diabetes_run"))
        future: Future[DiabetesRun] = _CACHE["run"]
        return future


def built_once() -> Built:
    """The process's one offline build of the definition."""
    with _LOCK:
        if "built" not in _CACHE:
            _CACHE["built"] = build_offline()
        built: Built = _CACHE["built"]
        return built


@pytest.fixture(scope="session")
def diabetes_run_started(tmp_path_factory: pytest.TempPathFactory) -> Future[DiabetesRun]:
    """The local run, started in the background (request it first from slow fixtures)."""
    return started_run(tmp_path_factory)


@pytest.fixture(scope="session")
def diabetes_run(diabetes_run_started: Future[DiabetesRun]) -> DiabetesRun:
    """preprocess -> train -> evaluate on the bundled diabetes data (no download)."""
    return diabetes_run_started.result()


@pytest.fixture(scope="session")
def diabetes_built(diabetes_run_started: Future[DiabetesRun]) -> Built:
    """The definition, built while the local run goes on in other processes."""
    return built_once()


def steps_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step, the ones nested in the condition included."""
    found = {}
    for step in definition["Steps"]:
        found[step["Name"]] = step
        for key in ("IfSteps", "ElseSteps"):
            for nested in step["Arguments"].get(key, []):
                found[nested["Name"]] = nested
    return found
