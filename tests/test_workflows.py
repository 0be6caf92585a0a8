"""GitHub workflows parse, use OIDC (no static keys), and name targets and stacks that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
STACKS = {"mlops-build", "mlops-staging", "mlops-prod"}


def make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE))


def load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def run_lines(workflow: dict) -> list[str]:
    return [
        line.strip()
        for job in workflow["jobs"].values()
        for step in job["steps"]
        for line in str(step.get("run", "")).splitlines()
        if line.strip()
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_uses_oidc_and_no_static_keys(path):
    workflow = load(path)
    assert workflow["permissions"]["id-token"] == "write"
    text = path.read_text()
    assert "aws-access-key-id" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_names_make_targets_and_stacks_that_exist(path):
    lines = run_lines(load(path))
    targets = {
        t for line in lines for t in re.findall(r"\bmake ([a-z ]+)", line) for t in t.split()
    }
    assert targets and targets <= make_targets()
    stacks = {s for line in lines for s in re.findall(r"\bmlops-[a-z]+", line)}
    stacks |= set(re.findall(r"stack: (mlops-[a-z]+)", path.read_text()))
    assert stacks <= STACKS


def test_pull_requests_run_tests_synth_and_diff_every_stack():
    workflow = load(REPO_ROOT / ".github/workflows/pull-request.yml")
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    lines = run_lines(workflow)
    assert "make test" in lines
    assert any("make synth" in line for line in lines)
    diffed = {i["stack"] for i in workflow["jobs"]["diff"]["strategy"]["matrix"]["include"]}
    assert diffed == STACKS
    assert any("GITHUB_STEP_SUMMARY" in line for line in lines)


def test_merge_deploys_staging_and_prod_waits_for_its_environment():
    workflow = load(REPO_ROOT / ".github/workflows/deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    jobs = workflow["jobs"]
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["prod"]["environment"] == "prod"
    assert jobs["prod"]["needs"] == "staging"
    deploys = {
        name: [s.get("run", "") for s in job["steps"] if "cdk deploy" in str(s.get("run", ""))]
        for name, job in jobs.items()
    }
    assert "mlops-staging" in deploys["staging"][0]
    assert "mlops-prod" in deploys["prod"][0]
    roles = {
        name: s["with"]["role-to-assume"]
        for name, job in jobs.items()
        for s in job["steps"]
        if "configure-aws-credentials" in s.get("uses", "")
    }
    # Each job assumes the deploy role GitHubDeployAccess creates in that environment.
    assert roles == {
        env: f"arn:aws:iam::${{{{ vars.{env.upper()}_ACCOUNT_ID }}}}:role/mlops-github-{env}-deploy"
        for env in ("build", "staging", "prod")
    }
