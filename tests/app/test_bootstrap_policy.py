"""The shipped CloudFormation execution policy (`bootstrap/cfn-execution-policy*.json`, for
`cdk bootstrap --cloudformation-execution-policies`) covers every template of the app and
grants IAM only on the app's own names.

When a template gains a resource type, a managed policy or a role passed to a new service,
regenerate the files (`python tools/bootstrap_policy.py cdk.out bootstrap`) and review the
difference."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tools.bootstrap_policy import MAX_POLICY_CHARACTERS, policy_files, statements

BOOTSTRAP = REPO_ROOT / "bootstrap"
IAM_RESOURCES = (
    "arn:aws:iam::*:role/mlops-*",
    "arn:aws:iam::*:role/aws-service-role/*",
    "arn:aws:iam::*:oidc-provider/token.actions.githubusercontent.com",
)
"""The only IAM resources the execution role may act on."""
SERVICE_PREFIXES = {"ApplicationAutoScaling": "application-autoscaling"}
"""IAM action prefixes that are not the lower-cased CloudFormation service name."""


def shipped() -> list[dict[str, Any]]:
    files = sorted(BOOTSTRAP.glob("cfn-execution-policy*.json"))
    assert [f.name for f in files] == sorted(policy_files(len(files)))
    return [json.loads(f.read_text()) for f in files]


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def problems(documents: list[dict[str, Any]]) -> list[str]:
    """What makes a policy too broad: any `*` action, NotAction/NotResource, Deny-free
    tricks, or an IAM action outside the app's names and conditions."""
    found = []
    for document in documents:
        if len(json.dumps(document, separators=(",", ":"))) > MAX_POLICY_CHARACTERS:
            found.append("a document is over IAM's managed-policy size")
        for statement in document["Statement"]:
            sid = statement.get("Sid", "?")
            if set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}:
                found.append(f"{sid}: uses {sorted(set(statement))}")
            for action in listed(statement.get("Action", [])):
                if action == "*" or action.endswith(":*"):
                    found.append(f"{sid}: grants {action}")
                if not action.lower().startswith("iam:"):
                    continue
                for resource in listed(statement["Resource"]):
                    if resource not in IAM_RESOURCES:
                        found.append(f"{sid}: {action} on {resource}")
                condition = json.dumps(statement.get("Condition", {}))
                if action == "iam:PassRole" and "iam:PassedToService" not in condition:
                    found.append(f"{sid}: iam:PassRole to any service")
                if action == "iam:AttachRolePolicy" and "iam:PolicyARN" not in condition:
                    found.append(f"{sid}: iam:AttachRolePolicy of any policy")
                if (
                    action == "iam:CreateServiceLinkedRole"
                    and "iam:AWSServiceName" not in condition
                ):
                    found.append(f"{sid}: service-linked roles of any service")
    return found


def allowed(action: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def test_the_shipped_policy_is_least_privilege():
    assert problems(shipped()) == []


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::*:role/mlops-*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/mlops-*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    ],
)
def test_a_broader_policy_fails_the_check(statement):
    assert problems([{"Version": "2012-10-17", "Statement": [statement]}])


def test_the_shipped_policy_covers_every_template(synthesized):
    """Every action CloudFormation's handlers call for the app's resource types, every
    managed policy attached and every service a role is passed to is allowed."""
    needed = statements(
        (synthesized.region(name), template) for name, template in synthesized.templates.items()
    )
    have = {s["Sid"]: s for document in shipped() for s in document["Statement"]}
    for statement in needed:
        sid = statement["Sid"]
        assert sid in have, f"{sid} missing: regenerate with tools/bootstrap_policy.py"
        given = have[sid]
        assert given["Resource"] == statement["Resource"], sid
        patterns = listed(given["Action"])
        missing = [a for a in listed(statement["Action"]) if not allowed(a, patterns)]
        assert missing == [], f"{sid} lacks {missing}: regenerate with tools/bootstrap_policy.py"
        for operator, values in statement.get("Condition", {}).items():
            for key, value in values.items():
                assert set(listed(value)) <= set(listed(given["Condition"][operator][key])), (
                    sid,
                    key,
                )


def test_every_resource_types_service_is_allowed(synthesized):
    actions = [
        a for document in shipped() for s in document["Statement"] for a in listed(s["Action"])
    ]
    services = {a.split(":")[0].lower() for a in actions}
    for template in synthesized.templates.values():
        for resource in template["Resources"].values():
            kind = resource["Type"]
            if kind.startswith("Custom::"):
                continue
            service = SERVICE_PREFIXES.get(kind.split("::")[1], kind.split("::")[1].lower())
            assert service in services, kind


def test_the_apps_names_fit_the_policys_patterns(synthesized):
    """IAM is granted on `mlops-*`: every fixed role name, every stack (CloudFormation
    names generated roles and functions after it) must start so."""
    for name, template in synthesized.templates.items():
        assert name.startswith("mlops-"), name
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Role" and "RoleName" in resource["Properties"]:
                assert resource["Properties"]["RoleName"].startswith("mlops-"), name
