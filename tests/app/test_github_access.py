"""GitHub access in the reference app, at policy level: each deploy role trusts exactly its
branch (and environment), the diff roles read stacks and assume nothing, and one OIDC
provider per account, also when two stacks of the app share an account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.app.conftest import BUILD, PROD, STAGING, Synthesized, copy_config, edit, read_assembly

REPO = "repo:example-org/sagemaker-mlops"
SUB = "token.actions.githubusercontent.com:sub"
AUD = {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
SHARED = (BUILD, STAGING, PROD)


def role(synthesized: Synthesized, stack: str, name: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, r)
        for logical_id, r in synthesized.resources(stack, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == name
    ]
    return found


def attached(synthesized: Synthesized, stack: str, logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the stack's policies attached to the role."""
    return [
        s
        for p in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": logical_id} in p["Properties"].get("Roles", [])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def provider_calls(synthesized: Synthesized, stack: str) -> list[str]:
    """The IAM calls of the stack's custom resources on GitHub's provider."""
    calls = []
    for resource in synthesized.resources(stack, "Custom::AWS").values():
        body = json.dumps(resource["Properties"])
        if "OpenIDConnectProvider" in body:
            calls.append("create" if "createOpenIDConnectProvider" in body else "audience")
    return sorted(calls)


def test_deploy_roles_trust_exactly_their_ref_and_environment(synthesized):
    for stack, subjects in [
        (BUILD, [f"{REPO}:ref:refs/heads/main:ref:refs/heads/main", f"{REPO}:ref:refs/heads/main"]),
        (STAGING, f"{REPO}:environment:staging:ref:refs/heads/main"),
        (PROD, f"{REPO}:environment:prod:ref:refs/heads/main"),
    ]:
        env = stack.removeprefix("mlops-")
        _, deploy = role(synthesized, stack, f"mlops-github-{env}-deploy")
        (statement,) = deploy["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {"StringEquals": {**AUD, SUB: subjects}}, stack


def test_diff_roles_trust_pull_requests_and_read_only_the_apps_stacks(synthesized):
    for stack in SHARED:
        env = stack.removeprefix("mlops-")
        logical_id, diff = role(synthesized, stack, f"mlops-github-{env}-diff")
        (statement,) = diff["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Condition"] == {
            "StringEquals": AUD,
            "StringLike": {SUB: f"{REPO}:pull_request:ref:refs/pull/*/merge"},
        }
        statements = attached(synthesized, stack, logical_id)
        (only,) = statements
        assert only["Action"] == ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"]
        assert only["Effect"] == "Allow"
        account = synthesized.account(stack)
        assert only["Resource"] == f"arn:aws:cloudformation:eu-west-1:{account}:stack/mlops-*"
        # It assumes nothing: no CDK lookup role (which reads the whole account).
        assert "sts:" not in json.dumps(statements)


def test_each_account_gets_the_provider_once_by_default(synthesized):
    # Three stacks in three accounts: each ensures the provider (tolerating one that exists).
    for stack in SHARED:
        assert provider_calls(synthesized, stack) == ["audience", "create"], stack
        assert synthesized.resources(stack, "AWS::IAM::OIDCProvider") == {}, stack


def shared_account_config(target: Path) -> Path:
    """The shipped config with staging in the build account."""
    config = copy_config(target)
    edit(config / "staging.yaml", 'account: "222222222222"', 'account: "111111111111"')
    return config


def test_two_stacks_sharing_an_account_make_one_provider(tmp_path):
    from aws_cdk import App

    from app import build_app
    from config.settings import load_settings
    from tests.conftest import cdk_context

    settings = load_settings(
        shared_account_config(tmp_path / "config"),
        environments=["staging", "prod"],
        models=["diabetes-regressor"],
    )
    app = App(outdir=str(tmp_path / "cdk.out"), context=cdk_context())
    build_app(app, settings)
    app.synth()
    synthesized = read_assembly(tmp_path / "cdk.out")
    assert synthesized.account(STAGING) == synthesized.account(BUILD)
    assert provider_calls(synthesized, BUILD) == ["audience", "create"]
    assert provider_calls(synthesized, STAGING) == []
    assert not any(
        k.startswith("AWS679f53fac") for k in synthesized.templates[STAGING]["Resources"]
    )
    # Staging trusts the build stack's provider at its fixed ARN and deploys after it.
    _, deploy = role(synthesized, STAGING, "mlops-github-staging-deploy")
    (statement,) = deploy["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    federated = json.dumps(statement["Principal"]["Federated"])
    assert ":iam::111111111111:oidc-provider/token.actions.githubusercontent.com" in federated
    assert BUILD in synthesized.dependencies(STAGING)
    # Prod is in its own account: it gets its own.
    assert provider_calls(synthesized, PROD) == ["audience", "create"]


def test_provider_setting_create_makes_a_provider_resource_per_account(tmp_path):
    from aws_cdk import App

    from app import build_app
    from config.settings import load_settings
    from tests.conftest import cdk_context

    config = shared_account_config(tmp_path / "config")
    edit(
        config / "build.yaml",
        "  deploy_branches: [main]",
        "  deploy_branches: [main]\n  oidc_provider: create",
    )
    settings = load_settings(
        config, environments=["staging", "prod"], models=["diabetes-regressor"]
    )
    app = App(outdir=str(tmp_path / "cdk.out"), context=cdk_context())
    build_app(app, settings)
    app.synth()
    synthesized = read_assembly(tmp_path / "cdk.out")
    assert len(synthesized.resources(BUILD, "AWS::IAM::OIDCProvider")) == 1
    assert synthesized.resources(STAGING, "AWS::IAM::OIDCProvider") == {}
    assert len(synthesized.resources(PROD, "AWS::IAM::OIDCProvider")) == 1
