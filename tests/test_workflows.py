"""GitHub workflows: OIDC only, one synth per run, the same assembly deployed everywhere.

The workflows are parsed as GitHub reads them; the local composite action
(`.github/actions/setup`) is expanded into the jobs that use it. `tools/diff_stacks.sh`
runs against a fake `cdk`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
DEPLOY = REPO_ROOT / ".github" / "workflows" / "deploy.yml"
PULL_REQUEST = REPO_ROOT / ".github" / "workflows" / "pull-request.yml"
ASSEMBLY = "cloud-assembly"
ACCOUNTS = ("build", "staging", "prod")
"""The build account, then the deploy environments in order."""


def load(path: Path) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's steps with local composite actions expanded in place."""
    expanded = []
    for step in job["steps"]:
        uses = step.get("uses", "")
        if uses.startswith("./"):
            action = yaml.safe_load((REPO_ROOT / uses / "action.yml").read_text())
            assert action["runs"]["using"] == "composite"
            expanded += action["runs"]["steps"]
        else:
            expanded.append(step)
    return expanded


def run_lines(job: dict[str, Any]) -> list[str]:
    return [
        line.strip()
        for step in steps(job)
        for line in str(step.get("run", "")).splitlines()
        if line.strip()
    ]


def all_jobs() -> dict[str, dict[str, Any]]:
    return {f"{p.stem}.{name}": job for p in WORKFLOWS for name, job in load(p)["jobs"].items()}


def make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_./-]+):", text, flags=re.MULTILINE))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if s.get("uses", "").startswith(action + "@")]


def deploy_jobs() -> dict[str, dict[str, Any]]:
    jobs = load(DEPLOY)["jobs"]
    return {n: j for n, j in jobs.items() if any("cdk deploy" in line for line in run_lines(j))}


def ancestors(name: str) -> set[str]:
    """The deploy workflow's jobs that must finish before `name` starts."""
    jobs = load(DEPLOY)["jobs"]
    needs = jobs[name].get("needs", [])
    direct = {needs} if isinstance(needs, str) else set(needs)
    return direct.union(*(ancestors(n) for n in direct))


def stacks_of(model_names: list[str], account: str) -> set[str]:
    """The stack names issue 8 fixes for one account (build) or environment."""
    return {f"mlops-{account}"} | {f"mlops-{m}-{account}" for m in model_names}


@pytest.fixture(scope="module")
def models() -> list[str]:
    from config.settings import load_settings

    names = list(load_settings().models)
    assert names
    return [*names, "added-by-files"]  # a model added later must be covered too


def test_workflows_use_oidc_and_no_static_keys():
    for path in WORKFLOWS:
        workflow = load(path)
        assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
        text = path.read_text()
        assert "aws-access-key-id" not in text
        assert "AWS_SECRET_ACCESS_KEY" not in text


def test_make_targets_scripts_and_actions_named_exist():
    targets = make_targets()
    for name, job in all_jobs().items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("./"):
                assert (REPO_ROOT / step["uses"] / "action.yml").is_file(), name
        for line in run_lines(job):
            for rest in re.findall(r"\bmake (.+)", line):
                words = re.split(r"[;&|>]", rest)[0].split()
                named = {w for w in words if "=" not in w and not w.startswith("-")}
                assert named and named <= targets, (name, line)
            for script in re.findall(r"\btools/[\w./-]+", line):
                assert (REPO_ROOT / script).is_file(), (name, script)


def test_every_job_restores_caches_keyed_on_the_lock_files():
    action = yaml.safe_load((REPO_ROOT / ".github/actions/setup/action.yml").read_text())
    caches = {
        s["with"]["path"]: s["with"]["key"]
        for s in action["runs"]["steps"]
        if "cache@" in s.get("uses", "")
    }
    assert "hashFiles('requirements.lock')" in caches[".venv"]
    assert "steps.python.outputs.python-version" in caches[".venv"]
    assert "hashFiles('package-lock.json')" in caches["node_modules"]
    assert "hashFiles('requirements.lock')" in caches["~/.cache/uv"]
    for name, job in all_jobs().items():
        assert [s.get("uses") for s in job["steps"][:2]] == [
            "actions/checkout@v4",
            "./.github/actions/setup",
        ], name


def test_merge_synthesizes_once_and_uploads_the_assembly():
    jobs = load(DEPLOY)["jobs"]
    assert load(DEPLOY)["on"] == {"push": {"branches": ["main"]}}
    synthesizing = [n for n, j in jobs.items() if any("synth" in line for line in run_lines(j))]
    assert synthesizing == ["synth"]
    assert run_lines(jobs["synth"])[-1] == "make synth"
    (upload,) = uses(jobs["synth"], "actions/upload-artifact")
    assert upload["with"]["name"] == ASSEMBLY
    assert upload["with"]["path"] == "cdk.out"


def test_deploy_jobs_deploy_the_uploaded_assembly_and_never_synthesize():
    jobs = deploy_jobs()
    assert set(jobs) == set(ACCOUNTS)
    for name, job in jobs.items():
        assert "synth" in ancestors(name), name
        (download,) = uses(job, "actions/download-artifact")
        assert download["with"] == {"name": ASSEMBLY, "path": "cdk.out"}
        lines = run_lines(job)
        assert not any(re.search(r"\bsynth\b", line) for line in lines), name
        cdk = [line for line in lines if "cdk " in line and not line.startswith("make")]
        assert cdk and all("--app cdk.out" in line for line in cdk), name
        (deploy,) = [s for s in job["steps"] if "cdk deploy" in s.get("run", "")]
        assert deploy["env"]["STACKS"] == "${{ steps.diff.outputs.stacks }}"
        assert deploy["if"] == "steps.diff.outputs.stacks != ''"
        assert "--exclusively" in deploy["run"] and "--require-approval never" in deploy["run"]
        diff = next(s for s in job["steps"] if s.get("id") == "diff")
        assert diff["run"].startswith("bash tools/diff_stacks.sh ")


def test_each_deploy_job_covers_its_own_stacks_exactly(models):
    for account, job in deploy_jobs().items():
        diff = next(s for s in job["steps"] if s.get("id") == "diff")
        patterns = shlex.split(diff["run"])[2:]
        every = set().union(*(stacks_of(models, a) for a in ACCOUNTS))
        matched = {s for s in every if any(fnmatch.fnmatchcase(s, p) for p in patterns)}
        assert matched == stacks_of(models, account), account


def test_jobs_assume_the_deploy_role_of_their_account():
    for account, job in deploy_jobs().items():
        (credentials,) = uses(job, "aws-actions/configure-aws-credentials")
        assert credentials["with"]["role-to-assume"] == (
            f"arn:aws:iam::${{{{ vars.{account.upper()}_ACCOUNT_ID }}}}"
            f":role/mlops-github-{account}-deploy"
        )


def test_order_is_build_staging_smoke_then_prod_behind_its_reviewers():
    jobs = load(DEPLOY)["jobs"]
    assert sorted(jobs["build"]["needs"]) == ["synth", "test"]
    assert jobs["staging"]["needs"] == "build"
    assert jobs["staging"]["environment"] == "staging"
    smoke = jobs["staging-smoke"]
    assert smoke["needs"] == "staging"
    assert smoke["environment"] == "staging"
    assert run_lines(smoke)[-1] == "make smoke ENV=staging"
    (credentials,) = uses(smoke, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"].endswith(":role/mlops-github-staging-deploy")
    assert "staging-smoke" in jobs["prod"]["needs"]
    assert jobs["prod"]["environment"] == "prod"
    assert "environment" not in jobs["build"]  # the build role trusts the main branch


def test_pull_requests_test_synth_once_and_diff_every_stack_without_deploying(models):
    workflow = load(PULL_REQUEST)
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    jobs = workflow["jobs"]
    assert "make test" in run_lines(jobs["test"])
    assert [n for n, j in jobs.items() if any("synth" in x for x in run_lines(j))] == ["synth"]
    assert uses(jobs["synth"], "actions/upload-artifact")[0]["with"]["name"] == ASSEMBLY
    diff = jobs["diff"]
    assert diff["needs"] == "synth"
    assert uses(diff, "actions/download-artifact")[0]["with"] == {
        "name": ASSEMBLY,
        "path": "cdk.out",
    }
    assert "environment" not in diff  # the diff roles trust pull requests only
    role = uses(diff, "aws-actions/configure-aws-credentials")[0]["with"]["role-to-assume"]
    assert role.endswith(":role/mlops-github-${{ matrix.environment }}-diff")
    matrix = diff["strategy"]["matrix"]["include"]
    assert [m["environment"] for m in matrix] == list(ACCOUNTS)
    for entry in matrix:
        patterns = shlex.split(entry["stacks"])
        every = set().union(*(stacks_of(models, a) for a in ACCOUNTS))
        matched = {s for s in every if any(fnmatch.fnmatchcase(s, p) for p in patterns)}
        assert matched == stacks_of(models, entry["environment"])
    assert "bash tools/diff_stacks.sh ${{ matrix.stacks }}" in run_lines(diff)
    assert "cdk deploy" not in PULL_REQUEST.read_text()


FAKE_CDK = """#!/usr/bin/env bash
# ls prints the stacks; diff exits 1 for those named in $CHANGED, 0 otherwise.
echo "$@" >> "$CALLS"
case "$1" in
  ls) printf '%s\\n' mlops-staging mlops-a-staging mlops-b-staging ;;
  diff)
    stack="${@: -1}"
    if [[ " $CHANGED " == *" $stack "* ]]; then echo "[~] AWS::SageMaker::Endpoint $stack"; exit 1; fi
    echo "There were no differences" ;;
esac
"""


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ("", ""),
        ("mlops-a-staging", "mlops-a-staging"),
        ("mlops-staging mlops-b-staging", "mlops-staging mlops-b-staging"),
    ],
)
def test_diff_stacks_lists_the_stacks_that_differ(tmp_path, changed, expected):
    cdk = tmp_path / "cdk"
    cdk.write_text(FAKE_CDK)
    cdk.chmod(0o755)
    files = {n: tmp_path / n for n in ("summary", "output", "calls")}
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "diff_stacks.sh"), "mlops-staging", "mlops-*-staging"],
        env={
            **os.environ,
            "CDK": str(cdk),
            "CHANGED": changed,
            "CALLS": str(files["calls"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "GITHUB_OUTPUT": str(files["output"]),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert files["output"].read_text() == f"stacks={expected}\n"
    calls = files["calls"].read_text().splitlines()
    assert calls[0] == "ls --app cdk.out mlops-staging mlops-*-staging"
    assert (
        calls[1]
        == "diff --app cdk.out --exclusively --method template --fail --no-color mlops-staging"
    )
    summary = files["summary"].read_text()
    for stack in ("mlops-staging", "mlops-a-staging", "mlops-b-staging"):
        if stack in changed.split():
            assert f"<code>{stack}</code>: changes" in summary
            assert f"AWS::SageMaker::Endpoint {stack}" in summary
        else:
            assert f"- `{stack}`: no changes" in summary
