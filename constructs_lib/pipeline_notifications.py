"""`PipelineNotifications`: tell people when a pipeline execution fails or is stopped."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._queues import dead_letter_queue
from constructs_lib._validate import Checks, Shown
from constructs_lib.sagemaker_pipeline import IPipeline

EXECUTION_STATUSES = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded")


class PipelineNotifications(Construct):
    """An EventBridge rule that publishes failed or stopped executions to an SNS topic.

    Matches "SageMaker Model Building Pipeline Execution Status Change" events of
    `pipeline` whose `currentPipelineExecutionStatus` is in `statuses`, and publishes a
    one-line summary plus the execution ARN. The target retries and dead-letters to a
    KMS-encrypted queue. `topic_key` must be the topic's key: EventBridge is allowed
    to use it to publish. `node.default_child` is the `events.Rule` (`rule`).

    Example::

        PipelineNotifications(stack, "Failures", pipeline=pipeline, topic=topic,
                              topic_key=key)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: IPipeline,
        topic: sns.ITopic,
        topic_key: kms.IKey,
        statuses: Sequence[str] = ("Failed", "Stopped"),
    ) -> None:
        """Create the rule, its target and its dead-letter queue.

        :param pipeline: the pipeline to watch: a `SageMakerPipeline` or
            `SageMakerPipeline.from_pipeline_name(...)`. Required.
        :param topic: where summaries are published. Required.
        :param topic_key: the topic's KMS key, a messaging key such as
            `NotificationTopic.key` (EventBridge gets encrypt rights on it, and it
            encrypts the dead-letter queue). Required.
        :param statuses: execution statuses to notify about, a non-empty subset of
            Executing, Stopping, Stopped, Failed, Succeeded. Default Failed and Stopped.
        """
        check = Checks("PipelineNotifications")
        if isinstance(statuses, str) or not isinstance(statuses, Sequence):
            check.fail("statuses", Shown(f"a {type(statuses).__name__} {statuses!r}"), "a list")
        elif not statuses or any(s not in EXECUTION_STATUSES for s in statuses):
            check.fail(
                "statuses",
                Shown(repr(list(statuses))),
                f"a non-empty list of {', '.join(EXECUTION_STATUSES)}",
            )
        check.done()
        super().__init__(scope, construct_id)
        # EventBridge encrypts what it publishes and dead-letters with topic_key.
        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", topic_key, event_rules=True
        )
        """Events the topic target could not deliver."""
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"{'/'.join(statuses)} executions of pipeline {pipeline.pipeline_name}",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Building Pipeline Execution Status Change"],
                detail={
                    "pipelineArn": [pipeline.pipeline_arn],
                    "currentPipelineExecutionStatus": list(statuses),
                },
            ),
        )
        """The EventBridge rule (`node.default_child`; its id stays "Rule")."""
        self.node.default_child = self.rule
        # The target adds `events.amazonaws.com` to the topic's policy with no condition:
        # EventBridge documents that Condition blocks cannot be used in SNS topic policies
        # for EventBridge (aws:SourceArn would drop every event). The dead-letter queue's
        # policy does name this rule as aws:SourceArn.
        self.rule.add_target(
            targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(
                    f"SageMaker pipeline {pipeline.pipeline_name}: execution"
                    f" {events.EventField.from_path('$.detail.pipelineExecutionArn')} is"
                    f" {events.EventField.from_path('$.detail.currentPipelineExecutionStatus')}"
                    f" (event {events.EventField.event_id})"
                ),
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=8,
                max_event_age=Duration.hours(6),
            )
        )
