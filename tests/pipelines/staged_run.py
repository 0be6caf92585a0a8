"""Run a package's step scripts as their containers do: from the code the construct stages.

``run_package`` runs preprocess -> train -> evaluate on a dataset with the package's
own job arguments and hyperparameters, the container paths swapped for local ones.
``stage`` writes the package's ``step_sources`` (a folder per processing script with
``step_common.py`` beside it; the training source archive, extracted as the training
toolkit extracts it) and returns where each script landed. ``run_steps`` runs staged
scripts one after the other, each as ``__main__`` by its file path, in one fresh
interpreter in isolated mode (``-I``: neither the working folder nor PYTHONPATH is on
``sys.path``) with the script's own folder first on the path, as ``python3 <script>``
has it: a script that imports anything but its staged neighbours and the container's
libraries fails as it would there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pipelines._offline import (
    EVALUATION_REPORT,
    INFERENCE_INSTANCE_TYPES,
    clarify_arguments,
    clarify_job_settings,
)
from pipelines._steps import step_serving

_DRIVER = """
import contextlib, json, os, pathlib, runpy, sys, tarfile
for step in json.loads(sys.argv[1]):
    if step["pack"]:  # what the training job does with SM_MODEL_DIR
        model_dir, archive = map(pathlib.Path, step["pack"])
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(model_dir.rglob("*")):
                tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    os.environ.update(step["env"])
    sys.argv = [step["script"], *step["args"]]
    # As `python3 <script>`: its folder first on the path, no module of another step's.
    sys.path.insert(0, os.path.dirname(step["script"]))
    for shared in ("step_common", "step_serving"):
        sys.modules.pop(shared, None)
    with open(step["stdout"], "w") as out, contextlib.redirect_stdout(out):
        try:
            runpy.run_path(step["script"], run_name="__main__")
        except SystemExit as done:
            if done.code not in (None, 0):
                sys.exit(f"{os.path.basename(step['script'])} exited {done.code}")
    sys.path.pop(0)
"""

Step = tuple[str, list[str | Path], dict[str, str], tuple[Path, Path] | None]
"""(script, arguments, extra environment, (model dir, model.tar.gz) to pack first or None)."""


def stage(package: ModuleType, root: Path) -> dict[str, Path]:
    """Script file name -> its staged path, from ``package.step_sources`` under ``root``."""
    sources = package.step_sources(root / "build")
    scripts = {}
    for name, source in sources.items():
        if source.is_dir():
            for script in source.glob("*.py"):
                if script.stem == name:
                    scripts[script.name] = script
        else:  # the training source archive, as the toolkit extracts it (/opt/ml/code)
            code = root / "opt_ml_code"
            with tarfile.open(source) as tar:
                tar.extractall(code, filter="data")
            scripts[f"{name}.py"] = code / f"{name}.py"
    return scripts


def run_steps(root: Path, scripts: dict[str, Path], *steps: Step) -> list[str]:
    """Run staged ``<script> <args>`` one after the other as the jobs would (packing a
    model directory first where asked); return each one's stdout, fail with stderr."""
    plan = [
        {
            "script": str(scripts[script]),
            "args": [str(a) for a in args],
            "env": env,
            "pack": [str(p) for p in pack] if pack else None,
            "stdout": str(root / f"{script}.stdout"),
        }
        for script, args, env, pack in steps
    ]
    result = run_isolated(_DRIVER, json.dumps(plan))
    if result.returncode != 0:
        pytest.fail(f"the step scripts failed:\n{result.stderr}")
    return [Path(step["stdout"]).read_text() for step in plan]


def run_isolated(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -I -B -c code args`` (no bytecode written into the staged folders)."""
    return subprocess.run(
        [sys.executable, "-I", "-B", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_script(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One staged script, alone, as its container runs it; the completed process."""
    driver = (
        "import runpy, sys, os; sys.argv = sys.argv[1:]; "
        "sys.path.insert(0, os.path.dirname(sys.argv[0])); "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return run_isolated(driver, str(script), *args)


@dataclass(frozen=True)
class StagedRun:
    """Where ``run_package`` left its outputs."""

    splits_dir: Path
    """Preprocess output: ``{train,validation,test,baseline}/<name>.csv``."""
    model_dir: Path
    """Train output (SM_MODEL_DIR): ``model.joblib`` and ``code/``."""
    model_tar: Path
    """``model_dir`` packed the way SageMaker packs it (``model.tar.gz``)."""
    evaluation_json: Path
    """Evaluate output: the model-quality report the quality gate reads."""
    train_log: str
    """What train.py printed (the training job's metric definitions read it)."""
    predictions_csv: Path
    """Evaluate output: the model-quality baseline's dataset."""
    clarify_dir: Path
    """Evaluate output with ``clarify``: Clarify's dataset and analysis configs."""


def run_package(
    package: ModuleType,
    root: Path,
    input_dir: Path,
    clarify: dict[str, Any] | None = None,
) -> StagedRun:
    """preprocess -> train -> evaluate of ``package`` (its ``pipeline`` module) on the
    CSV data in ``input_dir``, with the arguments its definition gives the jobs (and the
    ``--clarify`` ones it gives Evaluate for ``clarify`` settings)."""
    splits, model_dir, evaluation = root / "splits", root / "model", root / "evaluation"
    predictions, clarify_dir = root / "predictions", root / "clarify"
    clarify_args = (
        clarify_arguments(
            clarify_job_settings(clarify, package.CLARIFY_PREDICTOR, INFERENCE_INSTANCE_TYPES[0])
        )
        if clarify
        else []
    )
    model_tar = root / "training_output" / "model.tar.gz"
    # As the training toolkit passes them: one "--name value" pair per hyperparameter.
    hyperparameters: list[str | Path] = [
        token for k, v in package.TRAIN_HYPERPARAMETERS.items() for token in (f"--{k}", str(v))
    ]
    _, train_log, _ = run_steps(
        root,
        stage(package, root),
        (
            "preprocess.py",
            [*package.PREPROCESS_ARGUMENTS, "--input-dir", input_dir, "--output-dir", splits],
            {},
            None,
        ),
        (
            "train.py",
            hyperparameters,
            {
                "SM_CHANNEL_TRAIN": str(splits / "train"),
                "SM_CHANNEL_VALIDATION": str(splits / "validation"),
                "SM_MODEL_DIR": str(model_dir),
            },
            None,
        ),
        (
            "evaluate.py",
            [
                *package.EVALUATE_ARGUMENTS,
                *("--model-dir", model_tar.parent, "--test-dir", splits / "test"),
                *("--output-dir", evaluation),
                *("--predictions-dir", predictions, "--clarify-dir", clarify_dir),
                *clarify_args,
            ],
            {},
            (model_dir, model_tar),
        ),
    )
    return StagedRun(
        splits_dir=splits,
        model_dir=model_dir,
        model_tar=model_tar,
        evaluation_json=evaluation / EVALUATION_REPORT,
        train_log=train_log,
        predictions_csv=predictions / "predictions.csv",
        clarify_dir=clarify_dir,
    )


def served_model(inference: ModuleType, model_tar: Path, model_dir: Path) -> Any:
    """The model as the serving container loads it: ``model.tar.gz`` extracted into
    ``model_dir``, then the package's ``inference.model_fn``."""
    with tarfile.open(model_tar) as tar:
        tar.extractall(model_dir, filter="data")
    return inference.model_fn(str(model_dir))


def invoke(
    inference: ModuleType,
    model: Any,
    body: str | bytes,
    content_type: str | None,
    accept: str | None,
) -> tuple[int, Any]:
    """One request through the package's handler chain; (status, parsed JSON body)."""
    response = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), model), accept
    )
    assert isinstance(response, step_serving.Response)
    assert response.content_type == "application/json"
    return response.status, json.loads(response.body)
