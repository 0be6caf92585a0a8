"""Configuration errors stop `app.py` with one line naming the problem, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

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


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("configuration error")]


def test_unknown_environment(tmp_path):
    result = run_app({"environments": "qa"}, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert error_lines(result) == [
        "configuration error: unknown environment(s) ['qa']: no config/<name>.yaml for them;"
        " known environments: ['prod', 'staging']"
    ]


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("build.yaml", "region: eu-west-1", "region: [eu-west-1", "build.yaml: not valid YAML"),
    ],
)
def test_bad_setting_is_one_line(tmp_path, file, old, new, expected):
    config = tmp_path / "config"
    shutil.copytree(
        REPO_ROOT / "config", config, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    path = config / file
    path.write_text(path.read_text().replace(old, new, 1))
    result = run_app({"config_dir": str(config)}, tmp_path / "out")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result)
    assert expected in line
