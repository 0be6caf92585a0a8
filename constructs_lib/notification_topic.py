"""`NotificationTopic`: an encrypted SNS topic that alarms and EventBridge may publish to."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._validate import Checks

# SNS: "the display name ... can include up to 100 characters".
_DISPLAY_NAME = re.compile(r"^.{1,100}$", re.DOTALL)


class NotificationTopic(Construct):
    """A KMS-encrypted, TLS-only SNS topic for operational notifications.

    A topic with its own policy loses SNS's default one, so CloudWatch alarms of this
    account are allowed to publish explicitly (EventBridge targets add their own
    statement), and both services may use `key` to encrypt what they publish.

    Example::

        topic = NotificationTopic(stack, "Alarms", key=key, display_name="Endpoint alarms")
        alarm.add_alarm_action(SnsAction(topic.topic))
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, display_name: str
    ) -> None:
        """Create the topic and allow CloudWatch alarms (and EventBridge) to use it.

        :param key: encrypts messages at rest; its policy gains CloudWatch and EventBridge.
        :param display_name: shown in e-mail notifications; 1 to 100 characters.
        """
        super().__init__(scope, construct_id)
        check = Checks("NotificationTopic")
        check.text("display_name", display_name, _DISPLAY_NAME, "1-100 characters")
        check.done()
        stack = Stack.of(self)
        self.topic = sns.Topic(
            self, "Resource", display_name=display_name, master_key=key, enforce_ssl=True
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic_arn = self.topic.topic_arn
