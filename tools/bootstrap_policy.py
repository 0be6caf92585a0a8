#!/usr/bin/env python3
"""The IAM policy CloudFormation's execution role needs for this app, derived from its templates.

    python tools/bootstrap_policy.py [cdk.out] [bootstrap]

`cdk bootstrap` gives CloudFormation's execution role AdministratorAccess unless
`--cloudformation-execution-policies` names other policies. This writes policy documents
(`bootstrap/cfn-execution-policy.json`, then `-2.json`... as IAM's 6,144-character limit
for a managed policy requires) that allow what the synthesized app needs and no more:

- for every resource type in the templates, the actions CloudFormation's own handlers
  for that type call (create, read, update, delete), read from the resource schemas
  cfn-lint ships (the CloudFormation registry's `handlers.*.permissions`); IAM
  actions are left out of this statement and granted below, by name;
- IAM only on the app's roles (`role/mlops-*`: fixed names and the names CloudFormation
  generates from the stack name), passing them only to the services that assume them
  (their trust policies), attaching only the AWS managed policies the templates name,
  service-linked roles only for the services named, and GitHub's OIDC provider;
- invoking the app's custom-resource functions, reading the CDK bootstrap version
  parameter, and reading the app's stacks (`Fn::GetStackOutput`).

The test `tests/app/test_bootstrap_policy.py` fails when the shipped file no longer
covers a template; run this again and review the difference.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint

APP_PREFIX = "mlops-"
"""Every stack, fixed role name and generated role name of the app starts with it."""
GITHUB_PROVIDER = "token.actions.githubusercontent.com"
SERVICE_LINKED = {
    "AWS::ApplicationAutoScaling::ScalableTarget": "sagemaker.application-autoscaling.amazonaws.com"
}
"""Service-linked roles CloudFormation creates for a resource type the first time."""
EXTRA_SERVICES = {"ec2"}
"""Services outside the templates' own whose calls the handlers make for features the app
uses (Lambda functions and SageMaker jobs in a VPC read subnets and security groups);
the handlers' other cross-service permissions (EFS, S3 Tables, Firehose) serve features
the app does not use."""
READ_VERBS = ("Get", "Describe", "List")
"""Read actions are granted as `<service>:<verb>*`, which keeps the documents within
IAM's 6,144-character limit for a managed policy."""
MAX_POLICY_CHARACTERS = 6144
SCHEMAS = Path(cfnlint.__file__).resolve().parent / "data" / "schemas"
HANDLERS = ("create", "read", "update", "delete")


@cache
def _schema_ids(region: str) -> dict[str, str]:
    ids: dict[str, str] = json.loads((SCHEMAS / "providers" / f"{region}.json").read_text())
    return ids


def handler_permissions(resource_type: str, region: str) -> set[str]:
    """The actions CloudFormation's handlers for `resource_type` call (empty for custom
    resources, which CloudFormation only invokes)."""
    if (
        resource_type.startswith("Custom::")
        or resource_type == "AWS::CloudFormation::CustomResource"
    ):
        return set()
    schema_id = _schema_ids(region)[resource_type]
    schema = json.loads((SCHEMAS / "resources" / f"{schema_id}.json").read_text())
    handlers = schema.get("handlers", {})
    return {p for h in HANDLERS for p in handlers.get(h, {}).get("permissions", [])}


def read_templates(assembly: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each stack's region and template, by stack name, from a cloud assembly."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    found = {}
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        region = str(artifact["environment"]).split("/")[3]
        template = json.loads((assembly / artifact["properties"]["templateFile"]).read_text())
        found[name] = (region, template)
    return found


def _resources(templates: Iterable[tuple[str, dict[str, Any]]]) -> Iterable[tuple[str, Any]]:
    for region, template in templates:
        for resource in template.get("Resources", {}).values():
            yield region, resource


def _managed_policy(value: Any) -> str:
    """An AWS managed policy ARN as written in a template, with the partition filled in."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${AWS::Partition}", "aws")
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "aws" for p in parts)


def _principals(document: dict[str, Any]) -> set[str]:
    services: set[str] = set()
    for statement in document.get("Statement", []):
        service = statement.get("Principal", {}).get("Service", [])
        services.update([service] if isinstance(service, str) else service)
    return services


def _service(resource_type: str) -> str:
    """`AWS::SageMaker::Endpoint` -> `sagemaker` (the IAM prefix, as the handlers spell it)."""
    return resource_type.split("::")[1].lower()


def _compact(actions: Iterable[str]) -> list[str]:
    """Read actions as `<service>:<verb>*`, every other action as it is."""
    out = set()
    for action in actions:
        service, name = action.split(":", 1)
        verb = next((v for v in READ_VERBS if name.startswith(v)), None)
        out.add(f"{service}:{verb}*" if verb else action)
    return sorted(out)


def statements(templates: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The execution role's statements for these (region, template) pairs."""
    by_service: dict[str, set[str]] = {}
    iam_actions: set[str] = set()
    managed: set[str] = set()
    passed_to: set[str] = set()
    linked: set[str] = set()
    resources = list(_resources(templates))
    services = {_service(r["Type"]) for _, r in resources} | EXTRA_SERVICES
    services.add("application-autoscaling")  # AWS::ApplicationAutoScaling's IAM prefix
    for region, resource in resources:
        kind = resource["Type"]
        for action in handler_permissions(kind, region):
            service = action.split(":", 1)[0].lower()
            if service == "iam":
                iam_actions.add(action)
            elif service in services and action.split(":", 1)[1].isalpha():
                by_service.setdefault(service, set()).add(action)
        if kind == "AWS::IAM::Role":
            properties = resource["Properties"]
            managed.update(_managed_policy(p) for p in properties.get("ManagedPolicyArns", []))
            passed_to.update(_principals(properties["AssumeRolePolicyDocument"]))
        if kind in SERVICE_LINKED:
            linked.add(SERVICE_LINKED[kind])
    special = {
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
    }
    role_actions = sorted(
        a
        for a in iam_actions
        if a.endswith(
            (
                "Role",
                "RolePolicy",
                "RolePolicies",
                "RoleDescription",
                "RolePermissionsBoundary",
                "AttachedRolePolicies",
            )
        )
        and a not in special
    )
    provider_actions = sorted(a for a in iam_actions if "OpenIDConnectProvider" in a)
    roles = f"arn:aws:iam::*:role/{APP_PREFIX}*"
    found: list[dict[str, Any]] = [
        {"Sid": "AppRoles", "Effect": "Allow", "Action": role_actions, "Resource": roles},
        {
            "Sid": "PassAppRolesToTheirServices",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PassedToService": sorted(passed_to)}},
        },
    ]
    if managed:
        found.append(
            {
                "Sid": "AttachOnlyTheManagedPoliciesTheTemplatesName",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                "Resource": roles,
                "Condition": {"ArnEquals": {"iam:PolicyARN": sorted(managed)}},
            }
        )
    if linked:
        found.append(
            {
                "Sid": "ServiceLinkedRoles",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": "arn:aws:iam::*:role/aws-service-role/*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": sorted(linked)}},
            }
        )
    found += [
        {
            "Sid": "GitHubOidcProvider",
            "Effect": "Allow",
            "Action": provider_actions
            or [
                "iam:AddClientIDToOpenIDConnectProvider",
                "iam:CreateOpenIDConnectProvider",
                "iam:DeleteOpenIDConnectProvider",
                "iam:GetOpenIDConnectProvider",
                "iam:TagOpenIDConnectProvider",
            ],
            "Resource": f"arn:aws:iam::*:oidc-provider/{GITHUB_PROVIDER}",
        },
        {
            "Sid": "InvokeTheAppsCustomResourceFunctions",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": f"arn:aws:lambda:*:*:function:{APP_PREFIX}*",
        },
        {
            "Sid": "ReadTheCdkBootstrapVersion",
            "Effect": "Allow",
            "Action": "ssm:GetParameters",
            "Resource": "arn:aws:ssm:*:*:parameter/cdk-bootstrap/*",
        },
        {
            "Sid": "ReadTheAppsStackOutputs",
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": f"arn:aws:cloudformation:*:*:stack/{APP_PREFIX}*/*",
        },
    ]
    for service, actions in sorted(by_service.items()):
        sid = "Handlers" + "".join(w.capitalize() for w in service.split("-"))
        found.append({"Sid": sid, "Effect": "Allow", "Action": _compact(actions), "Resource": "*"})
    return found


def _size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def policies(templates: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The statements as few policy documents as IAM's size limit allows, in order."""
    documents: list[dict[str, Any]] = []
    for statement in statements(templates):
        if documents:
            candidate = {**documents[-1], "Statement": [*documents[-1]["Statement"], statement]}
            if _size(candidate) <= MAX_POLICY_CHARACTERS:
                documents[-1] = candidate
                continue
        documents.append({"Version": "2012-10-17", "Statement": [statement]})
    return documents


def policy_files(count: int) -> list[str]:
    """The shipped file names: `cfn-execution-policy.json`, then `-2`, `-3`..."""
    return ["cfn-execution-policy.json"] + [
        f"cfn-execution-policy-{n}.json" for n in range(2, count + 1)
    ]


def main(argv: list[str]) -> None:
    assembly = Path(argv[1] if len(argv) > 1 else "cdk.out")
    target = Path(argv[2] if len(argv) > 2 else "bootstrap")
    documents = policies(read_templates(assembly).values())
    target.mkdir(exist_ok=True)
    for old in target.glob("cfn-execution-policy*.json"):
        old.unlink()
    for name, document in zip(policy_files(len(documents)), documents, strict=True):
        (target / name).write_text(json.dumps(document, indent=1) + "\n")
        print(target / name)


if __name__ == "__main__":
    main(sys.argv)
