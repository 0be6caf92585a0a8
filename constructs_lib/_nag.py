"""Record cdk-nag acknowledgements next to the construct that causes the finding."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct, IValidation

COMPLIANCE_PACKS = {
    "IAMNoInlinePolicy": ("NIST.800.53.R5", "HIPAA.Security"),
    "LambdaConcurrency": ("NIST.800.53.R5", "HIPAA.Security"),
    "LambdaDLQ": ("NIST.800.53.R5", "HIPAA.Security", "Serverless"),
    "LambdaInsideVPC": ("NIST.800.53.R5", "HIPAA.Security"),
    "LambdaTracing": ("Serverless",),
    "LambdaLatestVersion": ("Serverless",),
    "S3BucketReplicationEnabled": ("NIST.800.53.R5", "HIPAA.Security"),
    "S3DefaultEncryptionKMS": ("NIST.800.53.R5", "HIPAA.Security"),
    "SQSRedrivePolicy": ("Serverless",),
}
"""The cdk-nag packs (besides AwsSolutions) that report each rule acknowledged here,
as cdk-nag 3.0's NIST 800-53 R5, HIPAA Security and Serverless packs list them."""

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


def in_packs(rule: str, reason: str) -> dict[str | Finding, str]:
    """`{"<pack>-<rule>": reason}` for every pack in `COMPLIANCE_PACKS[rule]`: one
    finding id per acknowledgement, the same reason in each pack."""
    return {f"{pack}-{rule}": reason for pack in COMPLIANCE_PACKS[rule]}


class _InlinePolicy(Finding):
    """IAMNoInlinePolicy of an `AWS::IAM::Policy`, only while it is attached to exactly
    one role of its own stack and to no user or group (what the reason says)."""

    def __init__(self, owner: IConstruct) -> None:
        self._owner = owner

    def ids(self) -> list[str]:
        policy = (
            self._owner
            if isinstance(self._owner, iam.Policy)
            else self._owner.node.try_find_child("DefaultPolicy")
        )
        if policy is None:
            return []
        cfn = policy.node.default_child
        stack = Stack.of(policy)
        roles, users, groups = (
            stack.resolve(getattr(cfn, name)) for name in ("roles", "users", "groups")
        )
        single_role = (
            isinstance(roles, list)
            and len(roles) == 1
            and isinstance(roles[0], dict)
            and set(roles[0]) == {"Ref"}
            and not users
            and not groups
        )
        packs = COMPLIANCE_PACKS["IAMNoInlinePolicy"]
        return [f"{pack}-IAMNoInlinePolicy" for pack in packs] if single_role else []


def acknowledge_inline_policy(owner: IConstruct, what: str) -> None:
    """Acknowledge IAMNoInlinePolicy (NIST 800-53 R5, HIPAA Security) for `owner`'s
    policy: a role's `DefaultPolicy`, or an `iam.Policy`. `what` names the role's job.

    The acknowledgement is only recorded while the policy is attached to exactly one
    role in the same template (checked when the app is validated); attached anywhere
    else, the finding stays open.
    """
    acknowledge(
        owner,
        {
            _InlinePolicy(owner): f"The AWS::IAM::Policy holds the grants of one role ({what})"
            " and is attached to that role only, in the same template: it is created,"
            " reviewed and deleted with the role. A managed policy would be a separate,"
            " reusable object that nothing else attaches."
        },
    )


def acknowledge_deployment_function(function: IConstruct, *, does: str) -> None:
    """Findings of a Lambda function that aws-cdk-lib creates and configures for a custom
    resource (BucketDeployment's handler, AwsCustomResource's provider), which
    CloudFormation invokes during deployments only. `does` says what it does, e.g.
    "makes one SageMaker DescribeModelPackage call"."""
    findings = {
        **in_packs(
            "LambdaConcurrency",
            "CloudFormation invokes this custom-resource function once per resource change"
            " during a deployment; reserving concurrency for it would only take from the"
            " account's unreserved pool.",
        ),
        **in_packs(
            "LambdaDLQ",
            "CloudFormation waits for this custom-resource function's answer: a failure"
            " fails and rolls back the deployment, and a dead-lettered request could not"
            " answer CloudFormation later.",
        ),
        **in_packs(
            "LambdaInsideVPC",
            f"It {does} through AWS service endpoints, during deployments only, and"
            " reaches nothing inside a VPC.",
        ),
        **in_packs(
            "LambdaTracing",
            "It runs during deployments only; each run is recorded in the stack's"
            " CloudFormation events and in its KMS-encrypted log group.",
        ),
    }
    acknowledge(function, findings)


def acknowledge_aws_custom_resource(resource: IConstruct, *, does: str) -> None:
    """Findings of an `AwsCustomResource` (`resource`): its policy's IAMNoInlinePolicy and
    the findings of the stack's provider function (`acknowledge_deployment_function`)."""
    acknowledge_inline_policy(
        resource.node.find_child("CustomResourcePolicy"), "AwsCustomResource's provider"
    )
    provider = Stack.of(resource).node.find_child(AWS_CUSTOM_RESOURCE_PROVIDER)
    acknowledge_deployment_function(provider, does=does)


AWS_CUSTOM_RESOURCE_PROVIDER = "AWS679f53fac002430cb0da5b7982bd2287"
"""Id of the stack-wide function behind every `AwsCustomResource` (aws-cdk-lib's
`AwsCustomResource.PROVIDER_FUNCTION_UUID` without dashes)."""


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
