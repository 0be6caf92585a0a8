"""`tools/promote.py` on temporary copies of a promotion manifest (per-model pins)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "promote.py"
MANIFEST = """\
# Which model package version each model serves in each environment.
models:
  tabular-classifier:
    staging: 7   # opened by the approval function
    prod: 3
  diabetes-regressor:
    staging: 4
    prod: null   # nothing promoted yet
"""


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("promote_tool", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


promote = _load()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "promotion.yaml"
    path.write_text(MANIFEST, encoding="utf-8")
    return path


def run(*args: str) -> int:
    status: int = promote.main(list(args))
    return status


def test_promotes_one_model_s_prod_to_its_staging_version(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--model", "tabular-classifier", "--env", "prod", "--manifest", str(manifest)) == 0
    out, err = capsys.readouterr()
    assert manifest.read_text(encoding="utf-8") == MANIFEST.replace(
        "    prod: 3\n", "    prod: 7\n"
    )
    changed = [line for line in out.splitlines() if line[:1] in "+-"]
    assert changed == [f"--- {manifest}", f"+++ {manifest}", "-    prod: 3", "+    prod: 7"]
    assert "tabular-classifier in prod: v3 -> v7 (from staging); written to" in err
    assert list(manifest.parent.iterdir()) == [manifest]  # no temporary file left


def test_other_models_pins_are_untouched(manifest: Path) -> None:
    assert run("--model", "diabetes-regressor", "--env", "prod", "--manifest", str(manifest)) == 0
    assert manifest.read_text(encoding="utf-8") == MANIFEST.replace(
        "    prod: null   # nothing", "    prod: 4   # nothing"
    )


def test_dry_run_prints_the_diff_and_writes_nothing(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model", "tabular-classifier", "--env", "prod", "--dry-run"]
    assert run(*args, "--manifest", str(manifest)) == 0
    out, err = capsys.readouterr()
    assert "+    prod: 7" in out and "dry run, not written" in err
    assert manifest.read_text(encoding="utf-8") == MANIFEST
    assert list(manifest.parent.iterdir()) == [manifest]


def test_explicit_version_and_source(manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = ["--model", "tabular-classifier", "--manifest", str(manifest)]
    assert run(*model, "--env", "staging", "--version", "8") == 0
    assert "    staging: 8   # opened by the approval function\n" in manifest.read_text()
    assert run(*model, "--env", "prod", "--from", "staging") == 0
    assert "  tabular-classifier:\n    staging: 8" in manifest.read_text()
    assert "    prod: 8\n  diabetes-regressor:" in manifest.read_text()
    assert "(from staging)" in capsys.readouterr().err


def test_already_at_that_version_exits_zero(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest.write_text(MANIFEST.replace("prod: 3", "prod: 7"), encoding="utf-8")
    before = manifest.read_text(encoding="utf-8")
    args = ["--model", "tabular-classifier", "--env", "prod", "--manifest", str(manifest)]
    assert run(*args) == 0
    out, err = capsys.readouterr()
    assert out == "" and "tabular-classifier already serves v7 in prod; nothing to change" in err
    assert manifest.read_text(encoding="utf-8") == before


TC = ["--model", "tabular-classifier"]


@pytest.mark.parametrize(
    ("args", "text", "message"),
    [
        (
            ["--model", "churn", "--env", "prod"],
            MANIFEST,
            "unknown model 'churn'; the manifest lists ['tabular-classifier', 'diabetes-regressor']",
        ),
        ([*TC, "--env", "qa"], MANIFEST, "unknown environment 'qa' for model 'tabular-classifier'"),
        ([*TC, "--env", "prod", "--from", "dev"], MANIFEST, "unknown source environment 'dev'"),
        ([*TC, "--env", "staging"], MANIFEST, "'staging' is the first environment of"),
        ([*TC, "--env", "prod", "--from", "prod"], MANIFEST, "is the environment being promoted"),
        (
            [*TC, "--env", "prod"],
            MANIFEST.replace("staging: 7", "staging: null"),
            "'tabular-classifier' has no version to promote in 'staging' (null)",
        ),
        (
            [*TC, "--env", "prod"],
            MANIFEST.replace("prod: 3", "prod: three"),
            "models.tabular-classifier.prod: got 'three'; allowed a positive integer",
        ),
        (
            [*TC, "--env", "prod"],
            MANIFEST.replace("prod: 3", "prod: true"),
            "models.tabular-classifier.prod: got True; allowed a positive integer",
        ),
        (
            [*TC, "--env", "prod"],
            MANIFEST + "environments:\n  prod: {}\n",
            "environments: unknown key; allowed only 'models'",
        ),
        (
            [*TC, "--env", "prod"],
            MANIFEST.replace("  diabetes-regressor:", "  Diabetes_Regressor:"),
            "models: got model name 'Diabetes_Regressor'; allowed lower-case words",
        ),
        (
            [*TC, "--env", "prod"],
            MANIFEST.replace("    prod: null", "    Prod: null"),
            "models.diabetes-regressor: got environment 'Prod'; allowed 2-21 lower-case",
        ),
        (
            [*TC, "--env", "prod"],
            "environments:\n  staging:\n    version: 1\n",
            "models: missing; allowed a mapping",
        ),
        ([*TC, "--env", "prod"], "models: [\n", "not valid YAML at line"),
        (
            [*TC, "--env", "prod"],
            MANIFEST.replace("    staging: 4\n", "    <<: {staging: 4}\n"),
            "the layout is not the block layout",
        ),
        (
            [*TC, "--env", "prod"],
            "models:\n  tabular-classifier: {staging: 1, prod: 1}\n",
            "models.tabular-classifier: expected a block mapping",
        ),
        ([*TC, "--env", "prod", "--version", "0"], MANIFEST, "--version: got 0"),
    ],
    ids=[
        "unknown-model",
        "unknown-env",
        "unknown-source",
        "first-env",
        "self",
        "source-unpinned",
        "word-version",
        "bool-version",
        "extra-top-key",
        "bad-model-name",
        "bad-env-name",
        "old-format",
        "not-yaml",
        "merge-key",
        "inline-mapping",
        "bad-version",
    ],
)
def test_errors_exit_one_with_a_clear_message(
    manifest: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    text: str,
    message: str,
) -> None:
    manifest.write_text(text, encoding="utf-8")
    assert run(*args, "--manifest", str(manifest)) == 1
    err = capsys.readouterr().err
    assert err.startswith("promote: error: ") and message in err, err
    assert manifest.read_text(encoding="utf-8") == text


def test_model_and_env_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run("--env", "prod")
    assert caught.value.code == 2
    assert "the following arguments are required: --model" in capsys.readouterr().err


def test_missing_manifest_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.yaml"
    assert run(*TC, "--env", "prod", "--manifest", str(missing)) == 1
    assert "cannot read the manifest" in capsys.readouterr().err


def test_runs_as_a_script_from_any_directory(manifest: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *TC,
            "--env",
            "prod",
            "--manifest",
            str(manifest),
            "--dry-run",
        ],
        cwd=manifest.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- a/promotion.yaml\n+++ b/promotion.yaml\n")  # git-style
    assert "+    prod: 7" in done.stdout
