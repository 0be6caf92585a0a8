"""The KMS permissions a SageMaker job or monitor role needs for its volume key."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms


def allow_volume_encryption(key: kms.IKey, role: iam.IRole) -> None:
    """Let SageMaker encrypt the volumes of jobs running as `role` with `key`.

    SageMaker creates a grant on the key for each job's volume; the grant is allowed only
    when it is for an AWS resource (`kms:GrantIsForAWSResource`), so the role cannot hand
    the key to anyone else.
    """
    key.grant(role, "kms:DescribeKey")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )
