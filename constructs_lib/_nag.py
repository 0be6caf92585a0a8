"""Record cdk-nag acknowledgements next to the construct that causes the finding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

READ_GRANT_FINDINGS = {
    "AwsSolutions-IAM5[Action::s3:GetObject*]": "bucket.grant_read: object, version and"
    " tagging reads, limited to one key prefix.",
    "AwsSolutions-IAM5[Action::s3:GetBucket*]": "bucket.grant_read: bucket location and"
    " settings, which SageMaker's S3 client reads.",
    "AwsSolutions-IAM5[Action::s3:List*]": "bucket.grant_read: listing keys under the prefix.",
}
"""Action wildcards that `IBucket.grant_read` always brings, with why they are acceptable."""


def acknowledge(scope: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge each exact finding id (e.g. `AwsSolutions-IAM5[Action::s3:*]`) with its reason."""
    Validations.of(scope).acknowledge(
        *(
            Acknowledgment(id=f"{_plugin(finding)}::{finding}", reason=reason)
            for finding, reason in findings.items()
        )
    )


def _plugin(finding: str) -> str:
    """The validation plugin a finding id belongs to (`AwsSolutions-IAM5[...]` -> AwsSolutions),
    which CDK records with the acknowledgement."""
    return finding.split("-", 1)[0]


def wildcard_resource(scope: IConstruct, arn: str) -> str:
    """The IAM5 finding id cdk-nag reports for `arn` (tokens spelled `<Ref>`, `<Id.Attr>`)."""
    return f"AwsSolutions-IAM5[Resource::{_spell(Stack.of(scope).resolve(arn))}]"


def _spell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return "<{}.{}>".format(*value["Fn::GetAtt"])
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return str(sep).join(_spell(p) for p in parts)
    raise ValueError(f"cannot spell {value!r} as a cdk-nag finding id")


def granted_wildcards(role: IConstruct) -> list[str]:
    """IAM5 finding ids for every wildcard resource in `role`'s default policy.

    For roles that CDK itself creates and grants to (e.g. BucketDeployment's handler),
    whose grants the caller does not write but must still account for one by one.
    """
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is None:
        return []
    document = Stack.of(role).resolve(policy.document)  # type: ignore[attr-defined]
    findings = []
    for statement in document.get("Statement", []):
        resources = statement.get("Resource", [])
        for resource in resources if isinstance(resources, list) else [resources]:
            spelled = _spell(resource)
            if "*" in spelled and spelled != "*":
                findings.append(f"AwsSolutions-IAM5[Resource::{spelled}]")
    return sorted(set(findings))


def imported_key_findings(scope: IConstruct, bucket: Any) -> dict[str, str]:
    """The IAM5 finding for a bucket's imported key known only as `key/*` (another
    account's key, whose id this account cannot name), with the reason it is safe."""
    key = bucket.encryption_key
    if key is None or "*" not in key.key_arn:
        return {}
    return {
        wildcard_resource(scope, key.key_arn): "The build account's key id is unknown in this"
        " account; that account's key policy grants decrypt to this account only, and only"
        " through S3 reads of its artifact bucket."
    }
