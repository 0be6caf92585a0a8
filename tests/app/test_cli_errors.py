"""Configuration errors stop `app.py` with one line naming the problem, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.app.conftest import copy_config
from tests.conftest import REPO_ROOT


def run_app(context: dict[str, str], outdir) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one `configuration error` line of a failed run (exit 1, no traceback)."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("configuration")]
    return line


def test_unknown_environment(tmp_path):
    result = run_app({"environments": "qa"}, tmp_path)
    assert error_line(result) == (
        "configuration error: unknown environment(s) ['qa']: no config/<name>.yaml for them;"
        " known environments: ['prod', 'staging']"
    )


def test_unknown_model(tmp_path):
    result = run_app({"models": "tabular-classifier, churn"}, tmp_path)
    assert error_line(result) == (
        "configuration error: unknown model(s) ['churn']: no config/models/<name>.yaml for"
        " them; known models: ['diabetes-regressor', 'tabular-classifier']"
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("build.yaml", "region: eu-west-1", "region: [eu-west-1", "build.yaml: not valid YAML"),
        (
            "models/diabetes-regressor.yaml",
            "primary_metric: rmse",
            "primary_metric: rmse\n  problem_type: ranking",
            "diabetes-regressor.yaml: approval.problem_type: got 'ranking'",
        ),
        (
            # Raised while the stacks are built, not while settings load.
            "models/tabular-classifier.yaml",
            "package: tabular_classifier",
            "package: nope",
            "models/tabular-classifier.yaml: pipeline.package: got 'nope'; allowed a package"
            " under pipelines/",
        ),
    ],
)
def test_bad_setting_is_one_line(tmp_path, file, old, new, expected):
    config = copy_config(tmp_path / "config")
    path = config / file
    path.write_text(path.read_text().replace(old, new, 1))
    result = run_app({"config_dir": str(config)}, tmp_path / "out")
    assert expected in error_line(result)
