"""GitHubDeployAccess: who may assume each role (exact `sub`/`aud` conditions), what each
role may do, the three ways of getting the account's OIDC provider, and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.github_deploy_access import GitHubDeployAccess

PROVIDER = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
SUB = "token.actions.githubusercontent.com:sub"
AUD = {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}


def roles(stack: Stack) -> dict[str, dict[str, Any]]:
    """The two roles' resources, by the suffix of their names (`deploy`, `diff`)."""
    found = Template.from_stack(stack).find_resources("AWS::IAM::Role")
    return {
        r["Properties"]["RoleName"].rsplit("-", 1)[1]: r
        for r in found.values()
        if "RoleName" in r["Properties"]
    }


def trust(stack: Stack, role: str) -> dict[str, Any]:
    """The role's one trust statement, with the provider ARN resolved."""
    (statement,) = roles(stack)[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    resolved: dict[str, Any] = stack.resolve(statement)
    return resolved


def text(value: Any) -> str:
    """A string or an `Fn::Join` of strings and `AWS::Partition`, as deployed."""
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else "aws" for p in value["Fn::Join"][1])


def federated(statement: dict[str, Any]) -> str:
    return text(statement["Principal"]["Federated"])


def statements(stack: Stack, role: str) -> list[dict[str, Any]]:
    """Every identity-policy statement attached to the role."""
    template = Template.from_stack(stack)
    logical_id = next(
        k
        for k, r in template.find_resources("AWS::IAM::Role").items()
        if r["Properties"].get("RoleName", "").endswith(f"-{role}")
    )
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": logical_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def test_environment_deploys_need_the_environment_and_a_deploy_branch(stack):
    GitHubDeployAccess(
        stack, "GitHub", repository="o/r", environments=["prod"], branches=["main", "release"]
    )
    statement = trust(stack, "deploy")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert federated(statement) == PROVIDER
    # Exactly these subjects, compared with StringEquals (no wildcard), plus the audience.
    assert statement["Condition"] == {
        "StringEquals": {
            **AUD,
            SUB: [
                "repo:o/r:environment:prod:ref:refs/heads/main",
                "repo:o/r:environment:prod:ref:refs/heads/release",
            ],
        }
    }


def test_branch_deploys_trust_both_renderings_of_a_branch_job(stack):
    GitHubDeployAccess(stack, "GitHub", repository="o/r", branches=["main"])
    assert trust(stack, "deploy")["Condition"] == {
        "StringEquals": {
            **AUD,
            SUB: [
                "repo:o/r:ref:refs/heads/main:ref:refs/heads/main",
                "repo:o/r:ref:refs/heads/main",
            ],
        }
    }


@pytest.mark.parametrize(
    ("kwargs", "subject"),
    [
        ({"environments": ["prod"]}, "repo:o/r:environment:prod"),
        ({}, "repo:o/r:ref:refs/heads/main"),
    ],
)
def test_without_require_ref_the_default_subject_template_is_trusted(stack, kwargs, subject):
    GitHubDeployAccess(stack, "GitHub", repository="o/r", require_ref=False, **kwargs)
    assert trust(stack, "deploy")["Condition"] == {"StringEquals": {**AUD, SUB: subject}}
    assert trust(stack, "diff")["Condition"] == {
        "StringEquals": {**AUD, SUB: "repo:o/r:pull_request"}
    }


def test_diff_role_trusts_only_pull_request_merge_refs(stack):
    GitHubDeployAccess(stack, "GitHub", repository="o/r")
    assert trust(stack, "diff")["Condition"] == {
        "StringEquals": AUD,
        "StringLike": {SUB: "repo:o/r:pull_request:ref:refs/pull/*/merge"},
    }


def test_diff_role_reads_the_apps_stacks_and_assumes_no_role(stack):
    GitHubDeployAccess(stack, "GitHub", repository="o/r", stack_name_prefix="mlops-")
    found = statements(stack, "diff")
    assert [actions(s) for s in found] == [
        ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"]
    ]
    assert not any(a.startswith("sts:") for s in found for a in actions(s))
    (resource,) = [text(s["Resource"]) for s in found]
    assert resource == "arn:aws:cloudformation:eu-west-1:111111111111:stack/mlops-*"


def test_deploy_role_may_only_assume_the_cdk_bootstrap_roles(stack):
    GitHubDeployAccess(stack, "GitHub", repository="o/r", cdk_qualifier="abc123")
    (statement,) = statements(stack, "deploy")
    assert actions(statement) == ["sts:AssumeRole"]
    names = sorted(text(r).split("/")[-1] for r in statement["Resource"])
    assert names == [
        f"cdk-abc123-{kind}-role-111111111111-eu-west-1"
        for kind in ("deploy", "file-publishing", "image-publishing", "lookup")
    ]


def test_ensure_mode_creates_the_provider_unless_it_exists_and_never_deletes_it(stack):
    access = GitHubDeployAccess(stack, "GitHub", repository="o/r")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    assert access.provider_mode == "ensure"
    assert text(stack.resolve(access.provider_arn)) == PROVIDER
    calls = {}
    for logical_id, resource in template.find_resources("Custom::AWS").items():
        properties = resource["Properties"]
        assert "Delete" not in properties, logical_id
        body = properties.get("Create") or properties["Update"]
        call = json.loads(text(body))
        calls[call["action"]] = call
    create = calls["createOpenIDConnectProvider"]
    assert create["ignoreErrorCodesMatching"] == "EntityAlreadyExists"
    assert create["parameters"] == {
        "Url": "https://token.actions.githubusercontent.com",
        "ClientIDList": ["sts.amazonaws.com"],
    }
    assert calls["addClientIDToOpenIDConnectProvider"]["parameters"] == {
        "OpenIDConnectProviderArn": PROVIDER,
        "ClientID": "sts.amazonaws.com",
    }
    # The provider function may call IAM on GitHub's provider only.
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if any(a.startswith("iam:") for a in actions(statement)):
                assert text(statement["Resource"]) == PROVIDER
    # The roles are created after the provider exists.
    for role in roles(stack).values():
        assert any(d.startswith("GitHubProviderAudience") for d in role["DependsOn"])


def test_create_mode_owns_a_provider_resource(stack):
    access = GitHubDeployAccess(stack, "GitHub", repository="o/r", provider="create")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IAM::OIDCProvider", 1)
    template.resource_count_is("Custom::AWS", 0)
    template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {
            "Url": "https://token.actions.githubusercontent.com",
            "ClientIdList": ["sts.amazonaws.com"],
        },
    )
    (provider_id,) = template.find_resources("AWS::IAM::OIDCProvider")
    assert stack.resolve(access.provider_arn) == {"Ref": provider_id}
    assert trust(stack, "deploy")["Principal"]["Federated"] == {"Ref": provider_id}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"provider": "existing"},
        {"existing_provider_arn": PROVIDER},
        {"provider": "existing", "existing_provider_arn": PROVIDER},
    ],
)
def test_existing_mode_creates_nothing_and_trusts_the_accounts_provider(stack, kwargs):
    access = GitHubDeployAccess(stack, "GitHub", repository="o/r", **kwargs)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    template.resource_count_is("Custom::AWS", 0)
    template.resource_count_is("AWS::Lambda::Function", 0)
    assert access.provider_mode == "existing"
    assert access.provider_resource is None
    assert federated(trust(stack, "deploy")) == PROVIDER


def test_github_deploy_role_is_the_default_child(stack):
    access = GitHubDeployAccess(stack, "GitHub", repository="o/r")
    assert access.node.default_child is access.deploy_role


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"repository": "not-a-repo"},
            "GitHubDeployAccess repository: got 'not-a-repo'; allowed owner/name",
        ),
        (
            {"repository": "o/r", "branches": [], "environments": ["prod"]},
            "GitHubDeployAccess branches: got \\[\\]; allowed at least one branch",
        ),
        (
            {"repository": "o/r", "branches": ["a b"]},
            r"GitHubDeployAccess branches: got \['a b'\]; allowed each name",
        ),
        (
            {"repository": "o/r", "branches": ["feature/*"]},
            r"GitHubDeployAccess branches: got \['feature/\*'\]; allowed each name",
        ),
        (
            {"repository": "o/r", "environments": "prod"},
            r"GitHubDeployAccess environments: got a str 'prod'; allowed a list",
        ),
        (
            {"repository": "o/r", "role_name_prefix": "x" * 58},
            "GitHubDeployAccess role_name_prefix: got 'x{58}'; allowed 1-57",
        ),
        (
            {"repository": "o/r", "existing_provider_arn": "arn:aws:iam::1:oidc-provider/x"},
            "GitHubDeployAccess existing_provider_arn: got 'arn:aws:iam::1:oidc-provider/x';"
            " allowed the ARN of an IAM OIDC provider",
        ),
        (
            {"repository": "o/r", "require_ref": "yes"},
            "GitHubDeployAccess require_ref: got a str 'yes'; allowed True or False",
        ),
        (
            {"repository": "o/r", "provider": "reuse"},
            "GitHubDeployAccess provider: got 'reuse'; allowed 'ensure' or 'create' or 'existing'",
        ),
        (
            {"repository": "o/r", "provider": "create", "existing_provider_arn": PROVIDER},
            "GitHubDeployAccess provider: got 'create'; allowed 'existing' or None with"
            " existing_provider_arn",
        ),
    ],
)
def test_github_errors_name_the_setting(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        GitHubDeployAccess(stack, "GitHub", **kwargs)
