"""CloudWatch Logs: the statement SageMaker execution roles need, and the KMS-encrypted
log groups of the Lambda functions here."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

LOGS_KEY_ID = "LogsKey"
"""Id of the stack-level key that encrypts the stack's log groups."""


def allow_sagemaker_logs(role: iam.IRole, log_groups: str) -> str:
    """Let SageMaker jobs or containers running as `role` write to the log groups matching
    `log_groups` (e.g. `/aws/sagemaker/Endpoints/*`). Returns the ARN pattern granted,
    whose cdk-nag finding the caller acknowledges with its own reason."""
    arn = Stack.of(role).format_arn(
        service="logs",
        resource="log-group",
        resource_name=log_groups,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[arn],
        )
    )
    return arn


def logs_key(scope: IConstruct) -> kms.IKey:
    """The KMS key of `scope`'s stack for CloudWatch Logs (created once per stack).

    CloudWatch Logs may use it only for log groups of this account and region
    (`kms:EncryptionContext:aws:logs:arn`); readers need `kms:Decrypt` from IAM.
    """
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(LOGS_KEY_ID)
    if existing is not None:
        return existing  # type: ignore[return-value]
    key = kms.Key(
        stack,
        LOGS_KEY_ID,
        description="Encrypts this stack's CloudWatch log groups",
        enable_key_rotation=True,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return key


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
) -> logs.LogGroup:
    """A log group encrypted with the stack's `logs_key`, kept `retention` (3 months)."""
    return logs.LogGroup(scope, construct_id, retention=retention, encryption_key=logs_key(scope))


def stack_log_group(scope: IConstruct, construct_id: str) -> logs.LogGroup:
    """An `encrypted_log_group` at the root of `scope`'s stack, created once: for the
    stack-wide singleton functions aws-cdk-lib creates (BucketDeployment's handler,
    AwsCustomResource's provider), which take the log group of their first user."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(construct_id)
    if existing is not None:
        return existing  # type: ignore[return-value]
    return encrypted_log_group(stack, construct_id)
