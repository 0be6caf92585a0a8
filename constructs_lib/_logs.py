"""The CloudWatch Logs statement every SageMaker execution role here needs."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam


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
