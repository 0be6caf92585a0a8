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
        # Only this account's alarms, on the topic and on its key (confused deputy).
        alarms_of_this_account = {
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
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccount",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=alarms_of_this_account,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccountToPublishEncrypted",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=alarms_of_this_account,
            )
        )
        # EventBridge's KMS requests carry no aws:SourceAccount/SourceArn (AWS documents
        # them as unsupported in a key policy for EventBridge delivery): a condition here
        # would drop every event silently.
        key.grant(
            iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic_arn = self.topic.topic_arn
