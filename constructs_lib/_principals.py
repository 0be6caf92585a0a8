"""Service principals that carry the source conditions their service documents.

A service principal without `aws:SourceArn`/`aws:SourceAccount` acts for any account
that points the service at our resource (the confused deputy). Each helper below adds
exactly the condition its service documents as sent, so the condition cannot silently
stop the service from working. Where AWS documents that no condition can be used, the
statement stays unconditioned and says why where it is made (README, "Security").
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def sagemaker_principal(scope: Construct) -> iam.ServicePrincipal:
    """SageMaker, only for resources of this stack's account and region.

    SageMaker's "Cross-service confused deputy prevention" documents `aws:SourceArn`
    in execution-role trust policies: `arn:<partition>:sagemaker:<region>:<account>:*`
    for inference (models, endpoints), and `pipeline/<name>/*`, `processing-job/*`,
    `training-job/*` for pipelines and the jobs they start. One role serves a pipeline
    and the jobs it starts (and a monitor's schedule and its processing jobs), and
    SageMaker lower-cases names in ARNs, so the account-and-region pattern is used:
    the account is in the ARN, hence no `aws:SourceAccount` (the guide says the same).
    """
    stack = Stack.of(scope)
    return iam.ServicePrincipal(
        "sagemaker.amazonaws.com",
        conditions={
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="sagemaker", resource="*", arn_format=ArnFormat.NO_RESOURCE_NAME
                )
            }
        },
    )


def scheduler_principal(scope: Construct, group_name: str = "default") -> iam.ServicePrincipal:
    """EventBridge Scheduler, only for schedules of `group_name` in this account.

    EventBridge Scheduler documents `aws:SourceArn` as the schedule group's ARN (never a
    schedule's) together with `aws:SourceAccount` in the execution role's trust policy.
    A schedule without a group is in the group `default`.
    """
    stack = Stack.of(scope)
    return iam.ServicePrincipal(
        "scheduler.amazonaws.com",
        conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnEquals": {
                "aws:SourceArn": stack.format_arn(
                    service="scheduler", resource="schedule-group", resource_name=group_name
                )
            },
        },
    )


def alarms_of_this_account(scope: Construct) -> dict[str, dict[str, str]]:
    """The condition that limits `cloudwatch.amazonaws.com` to this account's alarms.

    CloudWatch sends `aws:SourceAccount` and the alarm's ARN as `aws:SourceArn` both
    when it publishes to a topic and when it asks KMS for the topic's data keys.
    """
    stack = Stack.of(scope)
    return {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {
            "aws:SourceArn": stack.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name="*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        },
    }


def let_event_rules_use_key(key: kms.IKey) -> None:
    """Let EventBridge encrypt what rules deliver to a topic or queue under `key`.

    No source condition: EventBridge's KMS requests for delivery to an encrypted topic
    or queue carry no `aws:SourceAccount`/`aws:SourceArn` (AWS documents these keys as
    unsupported in a key policy for EventBridge delivery), so one would drop every event
    silently. Who EventBridge delivers for is limited by the queue policies
    (`aws:SourceArn` = the rule) and by the key being used for nothing but messaging.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowEventBridgeToDeliverEncrypted",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        )
    )
