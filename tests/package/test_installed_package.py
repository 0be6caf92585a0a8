"""The library as a user gets it: a wheel, a fresh virtualenv, an app outside the repository.

Builds the wheel from the package's own files only (copied out of the repository, so
nothing else can leak in), installs it with uv into a new virtualenv, and from there:

- synthesizes `examples/house_prices` (copied to a temporary folder) with cdk-nag's
  AwsSolutions, NIST 800-53 R5, HIPAA Security and Serverless packs and no
  acknowledgement of the example's own;
- runs mypy against the installed package, which must see its real types (`py.typed`)
  and flag a wrongly typed prop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.conftest import render
from tests.conftest import REPO_ROOT
from tests.support.staged_code import job_commands, missing_step_code, staged_objects

pytestmark = pytest.mark.xdist_group("installed-package")

EXAMPLE = REPO_ROOT / "examples" / "house_prices"
BIN = REPO_ROOT / ".venv" / "bin"
PACKAGE_FILES = ("pyproject.toml", "README.md", "constructs_lib", "lambdas")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv with the wheel and its extras (cdk-nag, the dry
    run's stand-ins) installed."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    source.mkdir()
    for name in PACKAGE_FILES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    uv = BIN / "uv"
    run(uv, "build", "--wheel", "--quiet", "--out-dir", root / "dist", source, cwd=root)
    (wheel,) = (root / "dist").glob("*.whl")
    run(uv, "venv", "--quiet", "--python", sys.executable, root / "venv", cwd=root)
    python = root / "venv" / "bin" / "python"
    # The lock's versions, so uv installs from its cache (the ranges' lower ends).
    run(
        uv, "pip", "install", "--quiet", "--python", python, f"{wheel}[nag,dry-run]",
        "--constraint", REPO_ROOT / "requirements.lock", cwd=root,
    )  # fmt: skip
    return python


def user_env() -> dict[str, str]:
    """The environment of a user's shell: node on PATH, no project paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CDK_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # node for jsii
    env["CDK_VALIDATION"] = "false"  # cfn-lint below covers template validation
    return env


def test_the_wheel_ships_types_and_the_lambda_code(installed):
    code = (
        "import constructs_lib, pathlib; p = pathlib.Path(constructs_lib.__file__).parent;"
        "print(p); print((p / 'py.typed').is_file());"
        "print((p / '_lambdas' / 'approval' / 'handler.py').is_file());"
        "print((p / '_lambdas' / 'retraining' / 'handler.py').is_file())"
    )
    where, typed, *handlers = run(installed, "-c", code, cwd=installed.parent).split()
    assert "site-packages" in where and str(REPO_ROOT) not in where
    assert (typed, handlers) == ("True", ["True", "True"])


def test_example_app_synthesizes_with_cdk_nag_and_no_acknowledgement(installed, tmp_path):
    app = tmp_path / "house_prices"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    sources = "".join(p.read_text() for p in app.rglob("*.py"))
    for word in (".acknowledge(", "NagSuppressions", "Acknowledgment("):
        assert word not in sources, f"the example must not silence cdk-nag ({word})"
    env = {**user_env(), "CDK_OUTDIR": str(tmp_path / "cdk.out")}
    run(installed, "app.py", cwd=app, env=env)

    out = tmp_path / "cdk.out"
    manifest = json.loads((out / "manifest.json").read_text())
    stacks = sorted(k for k, v in manifest["artifacts"].items() if v["type"].endswith("stack"))
    assert stacks == ["house-prices-build", "house-prices-dev", "house-prices-prod"]
    report = json.loads((out / "validation-report.json").read_text())
    assert [
        (nag["pluginName"], nag["conclusion"], nag["violations"]) for nag in report["pluginReports"]
    ] == [
        (pack, "success", [])
        for pack in ("AwsSolutions", "NIST.800.53.R5", "HIPAA.Security", "Serverless")
    ]
    # The installed dry run reads this assembly and finds the pipeline wired correctly.
    checked = run(installed, "-m", "constructs_lib.dry_run", "--check", "--assembly", out,
                  cwd=tmp_path, env=env)  # fmt: skip
    assert "house-prices" in checked and "wired correctly" in checked, checked
    # The approval function's code is the installed package's, staged as an asset.
    handlers = list(out.glob("asset.*/approval/handler.py"))
    assert handlers, "the approval Lambda code was not staged from the installed package"

    # The hand-written definition's commands find their scripts, under their own names.
    template = json.loads((out / "house-prices-build.template.json").read_text())
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"].endswith("Pipeline")]
    body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    definition = json.loads(render(body, template))
    commands = {command for _, command, _ in job_commands(definition, {})}
    assert commands == {
        "/opt/ml/processing/input/code/preprocess.py",
        "/opt/ml/processing/input/code/evaluate.py",
        "/opt/ml/input/data/code/train.py",
    }
    assert missing_step_code(definition, staged_objects(template, out)) == []

    from cfnlint.api import ManualArgs, lint_file

    for stack in stacks:
        matches = lint_file(
            out / f"{stack}.template.json", config=ManualArgs(regions=["eu-west-1"])
        )
        assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")] == []


PROBE = """
from aws_cdk import App, Stack
from constructs_lib import InstanceVariant, RealtimeEndpoint, RegisteredModel, TrafficShift

stack = Stack(App(), "Probe")
shift: TrafficShift = TrafficShift(type="CANARY", step_percent=10)
reveal_type(RealtimeEndpoint.grant_invoke)
"""

# aws-cdk-lib's own generated modules take mypy a minute to analyse: they are skipped (Any),
# so what is checked is the library's types as an installed package exposes them.
MYPY_CONFIG = """
[mypy]
strict = True
[mypy-aws_cdk.*,constructs.*,jsii.*,cdk_nag.*,publication.*,typeguard.*]
follow_imports = skip
"""


def mypy(installed: Path, probe: Path) -> subprocess.CompletedProcess[str]:
    config = probe.parent / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    command = [
        BIN / "mypy", "--python-executable", installed, "--config-file", config,
        "--cache-dir", probe.parent / ".mypy_cache", probe,
    ]  # fmt: skip
    return subprocess.run(
        [str(a) for a in command], cwd=probe.parent, capture_output=True, text=True, check=False
    )


def test_mypy_sees_the_installed_types(installed, tmp_path):
    good = tmp_path / "good.py"
    good.write_text(PROBE)
    result = mypy(installed, good)
    assert result.returncode == 0, result.stdout
    assert "py.typed" not in result.stdout
    assert 'Revealed type is "def (self: constructs_lib.' in result.stdout

    bad = tmp_path / "bad.py"
    bad.write_text(
        PROBE
        + "\ndef serve(model: RegisteredModel) -> None:\n"
        + "    RealtimeEndpoint(stack, 'E', endpoint_name='e', model=model,"
        + " variant='ml.m5.large')\n"
        + "InstanceVariant(instance_type='ml.m5.large', initial_instance_count='2')\n"
    )
    result = mypy(installed, bad)
    assert result.returncode == 1, result.stdout
    assert 'Argument "variant" to "RealtimeEndpoint" has incompatible type "str"' in result.stdout
    assert 'Argument "initial_instance_count" to "InstanceVariant" has incompatible type "str"' in (
        result.stdout
    )
