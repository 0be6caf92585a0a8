"""Every grant to an AWS service principal in a template, and whether it names its source.

A service principal without `aws:SourceArn`/`aws:SourceAccount` acts for any account
(the confused deputy). `service_grants` reads trust policies, key, topic, queue and bucket
policies and Lambda permissions; `unconditioned` returns those with no source condition
that `DOCUMENTED_IMPOSSIBLE` does not excuse, so a new unconditioned principal fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

POLICIES = {
    "AWS::IAM::Role": "AssumeRolePolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
}
"""Resource type -> the property holding a resource (or trust) policy."""

SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount")
"""The confused-deputy condition keys (condition keys are case-insensitive)."""

ENCRYPTION_CONTEXT = {"logs": "kms:encryptioncontext:aws:logs:arn"}
"""Services whose documented key-policy condition is their own encryption context."""

DOCUMENTED_IMPOSSIBLE = {
    # EventBridge user guide, "Amazon SNS permissions": "You can't use Condition blocks in
    # Amazon SNS topic policies for EventBridge." (CDK's targets.SnsTopic adds this one.)
    ("events.amazonaws.com", "AWS::SNS::TopicPolicy"): "no Condition for EventBridge on SNS",
    # EventBridge's KMS requests for delivery to an encrypted topic or queue carry no
    # source keys (documented as unsupported in a key policy for EventBridge delivery);
    # only messaging keys hold this statement, and the queue policies name the rule.
    ("events.amazonaws.com", "AWS::KMS::Key"): "no source keys in EventBridge's KMS calls",
    # Lambda documents no source key for assuming a function's execution role; a role can
    # be passed only to a function of its own account (iam:PassRole). CDK's providers
    # (BucketDeployment, AwsCustomResource) and the approval function have these roles.
    ("lambda.amazonaws.com", "AWS::IAM::Role"): "no source keys for Lambda execution roles",
}
"""(service principal, resource type) -> why AWS allows no source condition there."""


@dataclass(frozen=True)
class Grant:
    """One Allow statement (or Lambda permission) naming an AWS service principal."""

    stack: str
    resource: str
    kind: str
    service: str
    condition: dict[str, Any]
    """The statement's Condition, keys lower-cased: {key: value}, operators dropped."""

    @property
    def where(self) -> str:
        return f"{self.stack}/{self.resource} ({self.kind}) -> {self.service}"


def service_grants(template: dict[str, Any], stack: str = "") -> list[Grant]:
    """Every grant to a service principal in `template`."""
    grants: list[Grant] = []
    for logical_id, resource in template.get("Resources", {}).items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::Lambda::Permission":
            principal = props.get("Principal")
            if isinstance(principal, str) and principal.endswith(".amazonaws.com"):
                condition = {
                    f"aws:{name.lower()}": props[name]
                    for name in ("SourceArn", "SourceAccount")
                    if name in props
                }
                grants.append(Grant(stack, logical_id, kind, principal, condition))
            continue
        if kind not in POLICIES or POLICIES[kind] not in props:
            continue
        statements = props[POLICIES[kind]].get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow" or not isinstance(
                statement.get("Principal"), dict
            ):
                continue
            services = statement["Principal"].get("Service", [])
            condition = {
                key.lower(): value
                for operator in statement.get("Condition", {}).values()
                for key, value in operator.items()
            }
            for service in [services] if isinstance(services, str) else services:
                if isinstance(service, str):
                    grants.append(Grant(stack, logical_id, kind, service, condition))
    return grants


def _service(principal: str) -> str:
    """`logs.eu-west-1.amazonaws.com` -> `logs`; `events.amazonaws.com` -> `events`."""
    return re.sub(r"(\.[a-z]{2}(-[a-z]+)+-\d)?\.amazonaws\.com(\.cn)?$", "", principal)


def names_its_source(grant: Grant, account: str, template: dict[str, Any]) -> bool:
    """Whether the grant's source condition (or, for a service documented so, its
    encryption-context condition) names this account or a resource of this template."""
    keys = [k for k in SOURCE_KEYS if k in grant.condition]
    context = ENCRYPTION_CONTEXT.get(_service(grant.service))
    if context and context in grant.condition:
        keys.append(context)
    own = set(template.get("Resources", {}))
    for key in keys:
        text = json.dumps(grant.condition[key])
        if account in text or "AWS::AccountId" in text:
            return True
        if any(f'"{logical_id}"' in text for logical_id in own):
            return True
    return False


def unconditioned(grants: list[Grant], account: str, template: dict[str, Any]) -> list[str]:
    """The grants that neither name their source nor are documented as impossible to."""
    return sorted(
        g.where
        for g in grants
        if not names_its_source(g, account, template)
        and (g.service, g.kind) not in DOCUMENTED_IMPOSSIBLE
    )
