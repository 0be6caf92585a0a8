"""`AlarmForwarding`: send alarms' ALARM state changes to another account's event bus.

Alarms live where the endpoint runs (a deploy account); the pipeline they should start
lives in the build account. EventBridge carries the event across, with no code: a rule
on "CloudWatch Alarm State Change" of the given alarms targets the other account's
default event bus, where a `RetrainingTrigger` (`source_accounts`) matches it. What the
services document and this construct relies on:

- The receiving bus's resource policy must let this account `events:PutEvents`
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html), and a
  rule targeting a bus in another account needs a role with `events:PutEvents` on it.
- A forwarded event keeps its `source`, `detail-type`, `resources` and `account` (this
  account), so the receiving rule can match it as it would match its own alarms'.
- Event-bus targets take no RetryPolicy: EventBridge retries them for 24 hours (185
  attempts, its default) and then dead-letters to the target's queue
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, Names, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._nag import acknowledge, acknowledge_inline_policy
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validate import Checks, Shown, typed

MAX_ALARMS = 20
"""Alarms one rule forwards: their ARNs must fit the rule's 2,048-character pattern."""
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class AlarmForwarding(Construct):
    """Forward `alarms` entering ALARM to `target_account`'s default event bus.

    Creates an EventBridge rule (`node.default_child`, `rule`) with a fixed name, the
    role EventBridge sends with (trusted only by this rule: `aws:SourceArn` and
    `aws:SourceAccount`), a KMS-encrypted dead-letter queue for events the other bus
    did not take after EventBridge's retries, and an alarm on that queue notifying
    `topic`. The receiving account must allow this account to put
    "CloudWatch Alarm State Change" events on its default bus.

    Example::

        AlarmForwarding(stack, "ToBuild", alarms=[drift, auc],
                        target_account="111111111111", topic=alarms.topic)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarms: Sequence[cloudwatch.IAlarm],
        target_account: str,
        target_region: str | None = None,
        key: kms.IKey | None = None,
        topic: sns.ITopic | None = None,
    ) -> None:
        """Create the rule, its role, the dead-letter queue (and its key) and alarm.

        :param alarms: 1 to 20 alarms of this stack's account; each entering ALARM is
            forwarded. Required.
        :param target_account: the account whose default event bus receives the events
            (the build account). Required.
        :param target_region: that bus's region. Default: this stack's region.
        :param key: encrypts the dead-letter queue; EventBridge is allowed to use it.
            Default: a new key (rotation on), used for nothing else.
        :param topic: notified when events are dead-lettered. Default none: the alarm
            shows on the console only.
        """
        check = Checks("AlarmForwarding")
        if isinstance(alarms, str) or not isinstance(alarms, Sequence):
            check.fail("alarms", typed(alarms), f"a list of 1 to {MAX_ALARMS} cloudwatch.IAlarm")
        elif not 1 <= len(alarms) <= MAX_ALARMS:
            check.fail(
                "alarms", Shown(f"{len(alarms)} alarms"), f"1 to {MAX_ALARMS} cloudwatch.IAlarm"
            )
        else:
            for index, alarm in enumerate(alarms):
                check.has(f"alarms[{index}]", alarm, "alarm_arn", "a cloudwatch.IAlarm")
        check.text("target_account", target_account, _ACCOUNT, "a 12-digit account id")
        if target_region is not None:
            check.text("target_region", target_region, _REGION, "an AWS region or None")
        if key is not None:
            check.has("key", key, "key_arn", "a kms.IKey or None")
        if topic is not None:
            check.has("topic", topic, "topic_arn", "an sns.ITopic or None")
        check.done()
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        region = target_region or stack.region

        self.key: kms.IKey = key or kms.Key(
            self,
            "Key",
            description="Encrypts alarm events the build account's bus did not take",
            enable_key_rotation=True,
        )
        """The dead-letter queue's key (`key`, or the one created)."""
        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", self.key, event_rules=True
        )
        """Events the other account's bus did not accept after EventBridge's retries."""
        self.event_bus_arn = stack.format_arn(
            service="events",
            account=target_account,
            region=region,
            resource="event-bus",
            resource_name="default",
        )
        """The receiving default event bus."""
        # A fixed name, so the role can trust exactly this rule without a reference
        # cycle (the rule names the role, the role's trust would name the rule).
        self.rule_name = Names.unique_resource_name(self, max_length=64)
        rule_arn = stack.format_arn(service="events", resource="rule", resource_name=self.rule_name)
        self.role = iam.Role(
            self,
            "Role",
            description="EventBridge sends this stack's alarm events to the build account",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": rule_arn},
                },
            ),
        )
        """The role EventBridge puts the events with."""
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.event_bus_arn])
        )
        acknowledge_inline_policy(self.role, "putting alarm events on one event bus")
        self.rule = events.Rule(
            self,
            "Resource",
            rule_name=self.rule_name,
            description=f"Alarms forwarded to account {target_account} (retraining)",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn for alarm in alarms],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[
                targets.EventBus(
                    events.EventBus.from_event_bus_arn(self, "Bus", self.event_bus_arn),
                    role=self.role,
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )
        """The rule on the alarms entering ALARM (`node.default_child`)."""
        self.node.default_child = self.rule
        self.dead_letter_alarm = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ).create_alarm(
            self,
            "DeadLetters",
            alarm_description="Alarm events did not reach the build account: inspect the"
            " dead-letter queue (the bus policy or the role may be wrong)",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        """Fires when the dead-letter queue holds events (notifies `topic`, when given)."""
        if topic is not None:
            self.dead_letter_alarm.add_alarm_action(actions.SnsAction(topic))
        else:
            acknowledge(
                self.dead_letter_alarm,
                {
                    f"{pack}-CloudWatchAlarmAction": "No topic was given to this forwarding:"
                    " the alarm shows dead letters on the console and dashboards only."
                    for pack in ("NIST.800.53.R5", "HIPAA.Security")
                },
            )
