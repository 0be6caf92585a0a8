"""The encrypted dead-letter queue every event target and async Lambda here gets."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._nag import acknowledge
from constructs_lib._principals import let_event_rules_use_key


def dead_letter_queue(
    scope: Construct, construct_id: str, key: kms.IKey, *, event_rules: bool = False
) -> sqs.Queue:
    """A KMS-encrypted, TLS-only queue that keeps failed events for 14 days.

    `key` should be a messaging key (a `NotificationTopic`'s), not the key of stored
    data. With `event_rules`, EventBridge may use the key: a rule target dead-letters
    here itself (the queue policy CDK adds names the rule as `aws:SourceArn`). Without,
    only roles granted `send` write here (a Lambda's async destination, Scheduler's role).
    """
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    if event_rules:
        let_event_rules_use_key(key)
    acknowledge(
        queue,
        {
            "AwsSolutions-SQS3": "This queue is itself the dead-letter queue of event targets"
            " and an async Lambda; a queue behind it would only move the same messages.",
            "Serverless-SQSRedrivePolicy": "This queue is itself the dead-letter queue of"
            " event targets and an async Lambda; a redrive policy would only move the same"
            " messages to another queue.",
        },
    )
    return queue
