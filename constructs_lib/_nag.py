"""Record cdk-nag acknowledgements next to the construct that causes the finding."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct, IValidation

READ_GRANT_FINDINGS = {
    "AwsSolutions-IAM5[Action::s3:GetObject*]": "bucket.grant_read: object, version and"
    " tagging reads, limited to one key prefix.",
    "AwsSolutions-IAM5[Action::s3:GetBucket*]": "bucket.grant_read: bucket location and"
    " settings, which SageMaker's S3 client reads.",
    "AwsSolutions-IAM5[Action::s3:List*]": "bucket.grant_read: listing keys under the prefix.",
}
"""Action wildcards that `IBucket.grant_read` always brings, with why they are acceptable."""


class Finding:
    """A finding id that depends on how CloudFormation values are spelled in the template.

    cdk-nag reports a wildcard resource with its template text (`<Bucket.Arn>/prefix/*`
    in the same stack, `<stack>:ExportsOutput...` once the bucket lives in another
    stack), which is only final after CDK has turned cross-stack references into
    imports. `acknowledge` therefore spells these when the tree is validated, after
    that step and before cdk-nag runs, so an acknowledgement holds wherever the
    referenced resource lives.
    """

    def ids(self) -> list[str]:
        raise NotImplementedError


class _WildcardResource(Finding):
    def __init__(self, scope: IConstruct, arn: str) -> None:
        self._scope = scope
        self._arn = arn

    def ids(self) -> list[str]:
        return [f"AwsSolutions-IAM5[Resource::{spell(Stack.of(self._scope).resolve(self._arn))}]"]


class _GrantedWildcards(Finding):
    def __init__(self, role: IConstruct) -> None:
        self._role = role

    def ids(self) -> list[str]:
        policy = self._role.node.try_find_child("DefaultPolicy")
        if policy is None:
            return []
        document = Stack.of(self._role).resolve(policy.document)  # type: ignore[attr-defined]
        found = set()
        for statement in document.get("Statement", []):
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                spelled = spell(resource)
                if "*" in spelled and spelled != "*":
                    found.add(f"AwsSolutions-IAM5[Resource::{spelled}]")
        return sorted(found)


def acknowledge(scope: IConstruct, findings: Mapping[str | Finding, str]) -> None:
    """Acknowledge each exact finding id (e.g. `AwsSolutions-IAM5[Action::s3:*]`, or a
    `wildcard_resource(...)`) on `scope` with its reason."""
    now = {k: v for k, v in findings.items() if isinstance(k, str)}
    later = {k: v for k, v in findings.items() if isinstance(k, Finding)}
    if now:
        _record(scope, now)
    if later:
        scope.node.add_validation(_AcknowledgeWhenValidated(scope, later))


def _record(scope: IConstruct, findings: Mapping[str, str]) -> None:
    Validations.of(scope).acknowledge(
        *(
            Acknowledgment(id=f"{_plugin(finding)}::{finding}", reason=reason)
            for finding, reason in findings.items()
        )
    )


@jsii.implements(IValidation)
class _AcknowledgeWhenValidated:
    """Records `Finding` acknowledgements once references are final (see `Finding`)."""

    def __init__(self, scope: IConstruct, findings: Mapping[Finding, str]) -> None:
        self._scope = scope
        self._findings = findings

    def validate(self) -> list[str]:
        _record(
            self._scope,
            {id_: reason for finding, reason in self._findings.items() for id_ in finding.ids()},
        )
        return []


def _plugin(finding: str) -> str:
    """The validation plugin a finding id belongs to (`AwsSolutions-IAM5[...]` -> AwsSolutions),
    which CDK records with the acknowledgement."""
    return finding.split("-", 1)[0]


def wildcard_resource(scope: IConstruct, arn: str) -> Finding:
    """The IAM5 finding cdk-nag reports for the wildcard resource `arn`, as spelled in
    `scope`'s stack (same stack, another stack or imported by name)."""
    return _WildcardResource(scope, arn)


def granted_wildcards(role: IConstruct) -> Finding:
    """IAM5 findings for every wildcard resource in `role`'s default policy.

    For roles that CDK itself creates and grants to (e.g. BucketDeployment's handler),
    whose grants the caller does not write but must still account for one by one.
    """
    return _GrantedWildcards(role)


def spell(value: Any) -> str:
    """A CloudFormation value as cdk-nag flattens it (its `flattenCfnReference`)."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return str(sep).join(spell(p) for p in parts)
        if "Fn::Sub" in value:
            return spell(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{spell(resource)}.{spell(attribute)}>"
        if "Fn::ImportValue" in value:
            return spell(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{spell(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def imported_key_findings(scope: IConstruct, bucket: Any) -> dict[str | Finding, str]:
    """The IAM5 finding for a bucket's imported key known only as `key/*` (another
    account's key, whose id this account cannot name), with the reason it is safe."""
    key = bucket.encryption_key
    if key is None or "*" not in key.key_arn:
        return {}
    return {
        wildcard_resource(scope, key.key_arn): "The build account's key id is unknown in this"
        " account; that account's key policy grants decrypt to this account only, and only"
        " through S3 reads of its artifact bucket (the reference app's key policy says so;"
        " a key of your own must too)."
    }
