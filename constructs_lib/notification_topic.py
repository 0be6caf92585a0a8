"""`NotificationTopic`: an encrypted SNS topic that alarms and EventBridge may publish to."""

from __future__ import annotations

import re

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._principals import alarms_of_this_account, let_event_rules_use_key
from constructs_lib._validate import Checks

# SNS: "the display name ... can include up to 100 characters".
_DISPLAY_NAME = re.compile(r"^.{1,100}$", re.DOTALL)


class NotificationTopic(Construct):
    """A KMS-encrypted, TLS-only SNS topic for operational notifications.

    A topic with its own policy loses SNS's default one, so CloudWatch alarms of this
    account are allowed to publish explicitly, on the topic and on its key (both
    conditioned on `aws:SourceAccount` and the alarm ARN pattern: confused deputy).
    The topic's key is a messaging key: without `key` the topic creates its own (rotation
    on), so the key of stored data (an artifact bucket) never names a messaging service.
    Rules that publish here need `allow_event_rules()` (`PipelineNotifications` grants
    the same on the key it is given).

    Example::

        topic = NotificationTopic(stack, "Alarms", display_name="Endpoint alarms")
        alarm.add_alarm_action(SnsAction(topic.topic))
        queue = sqs.Queue(stack, "Dlq", encryption_master_key=topic.key, ...)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        display_name: str,
        key: kms.IKey | None = None,
    ) -> None:
        """Create the topic (and its key) and allow CloudWatch alarms to use them.

        :param display_name: shown in e-mail notifications; 1 to 100 characters. Required.
        :param key: encrypts messages at rest; its policy gains CloudWatch (this
            account's alarms). Default: a new key with rotation on (`key`), meant for
            messaging only: the topic and the dead-letter queues beside it.
        """
        super().__init__(scope, construct_id)
        check = Checks("NotificationTopic")
        check.text("display_name", display_name, _DISPLAY_NAME, "1-100 characters")
        if key is not None:
            check.has("key", key, "key_arn", "a kms.IKey or None")
        check.done()
        self.key: kms.IKey = key or kms.Key(
            self,
            "Key",
            description=f"Encrypts notifications and dead letters: {display_name}",
            enable_key_rotation=True,
        )
        """The topic's key (`key`, or the one created): for messaging, not stored data."""
        self.topic = sns.Topic(
            self, "Resource", display_name=display_name, master_key=self.key, enforce_ssl=True
        )
        """The SNS topic (`node.default_child`)."""
        self.topic_arn = self.topic.topic_arn
        condition = alarms_of_this_account(self)
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccount",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=condition,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccountToPublishEncrypted",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=condition,
            )
        )

    def allow_event_rules(self) -> None:
        """Let EventBridge rules encrypt what they publish here with the topic's key.

        CDK's `targets.SnsTopic(topic)` adds the topic-policy statement; like it, the key
        statement has no source condition: EventBridge sends none for delivery to an
        encrypted topic (see `constructs_lib._principals.let_event_rules_use_key`).
        """
        let_event_rules_use_key(self.key)
