"""The encrypted dead-letter queue every event target and async Lambda here gets."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._nag import acknowledge


def dead_letter_queue(scope: Construct, construct_id: str, key: kms.IKey) -> sqs.Queue:
    """A KMS-encrypted, TLS-only queue that keeps failed events for 14 days."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    # EventBridge and Scheduler deliver to the queue themselves: they need the key too.
    key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
    acknowledge(
        queue,
        {
            "AwsSolutions-SQS3": "This queue is itself the dead-letter queue of event targets"
            " and an async Lambda; a queue behind it would only move the same messages.",
        },
    )
    return queue
