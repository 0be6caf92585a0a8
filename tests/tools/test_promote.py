"""`tools/promote.py` on temporary copies of the promotion manifest."""

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
# Which model package version each environment serves.
environments:
  staging:
    model_package_group: tabular-classifier
    version: 7   # opened by the approval function
  prod:
    model_package_group: tabular-classifier
    version: 3
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


def test_promotes_prod_to_the_version_staging_serves(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--env", "prod", "--manifest", str(manifest)) == 0
    out, err = capsys.readouterr()
    assert manifest.read_text(encoding="utf-8") == MANIFEST.replace(
        "    version: 3\n", "    version: 7\n"
    )
    changed = [line for line in out.splitlines() if line[:1] in "+-"]
    assert changed == [f"--- {manifest}", f"+++ {manifest}", "-    version: 3", "+    version: 7"]
    assert "prod: tabular-classifier v3 -> v7 (from staging); written to" in err
    assert list(manifest.parent.iterdir()) == [manifest]  # no temporary file left


def test_dry_run_prints_the_diff_and_writes_nothing(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--env", "prod", "--manifest", str(manifest), "--dry-run") == 0
    out, err = capsys.readouterr()
    assert "+    version: 7" in out and "dry run, not written" in err
    assert manifest.read_text(encoding="utf-8") == MANIFEST
    assert list(manifest.parent.iterdir()) == [manifest]


def test_explicit_version_and_source(manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--env", "staging", "--version", "8", "--manifest", str(manifest)) == 0
    assert "    version: 8   # opened by the approval function\n" in manifest.read_text()
    assert run("--env", "prod", "--from", "staging", "--manifest", str(manifest)) == 0
    assert manifest.read_text().endswith("    version: 8\n")
    assert "(from staging)" in capsys.readouterr().err


def test_already_at_that_version_exits_zero(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest.write_text(MANIFEST.replace("version: 3", "version: 7"), encoding="utf-8")
    before = manifest.read_text(encoding="utf-8")
    assert run("--env", "prod", "--manifest", str(manifest)) == 0
    out, err = capsys.readouterr()
    assert out == "" and "prod already serves tabular-classifier v7; nothing to change" in err
    assert manifest.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    ("args", "text", "message"),
    [
        (["--env", "qa"], MANIFEST, "unknown environment 'qa'; the manifest lists"),
        (["--env", "prod", "--from", "dev"], MANIFEST, "unknown source environment 'dev'"),
        (["--env", "staging"], MANIFEST, "'staging' is the first environment"),
        (["--env", "prod", "--from", "prod"], MANIFEST, "is the environment being promoted"),
        (
            ["--env", "prod"],
            MANIFEST.replace("version: 7", "version: null"),
            "'staging' has no version to promote",
        ),
        (
            ["--env", "prod"],
            MANIFEST.replace(
                "group: tabular-classifier\n    version: 3", "group: churn\n    version: 3"
            ),
            "versions do not carry across groups",
        ),
        (["--env", "prod"], MANIFEST.replace("version: 3", "version: three"), "cannot read"),
        (["--env", "prod", "--version", "0"], MANIFEST, "--version: got 0"),
    ],
    ids=[
        "unknown-env",
        "unknown-source",
        "first-env",
        "self",
        "source-unpinned",
        "other-group",
        "invalid-manifest",
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
    assert err.startswith("promote: error: ") and message in err
    assert manifest.read_text(encoding="utf-8") == text


def test_runs_as_a_script_from_any_directory(manifest: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--env", "prod", "--manifest", str(manifest), "--dry-run"],
        cwd=manifest.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- a/promotion.yaml\n+++ b/promotion.yaml\n")  # git-style
    assert "+    version: 7" in done.stdout
