"""`RetrainingSchedule`: start a pipeline on a schedule (EventBridge Scheduler)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from constructs_lib._nag import acknowledge, acknowledge_inline_policy
from constructs_lib._principals import scheduler_principal
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validate import Checks, Shown
from constructs_lib.sagemaker_pipeline import IPipeline

_EXPRESSION = re.compile(r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+/-]{0,49}$")


class RetrainingSchedule(Construct):
    """Start `pipeline` with `parameters` on `schedule_expression`, or not at all.

    Uses an `AWS::Scheduler::Schedule` with a role allowed only to start this pipeline,
    a retry policy, a maximum event age and a KMS-encrypted dead-letter queue. With
    `enabled=False` the schedule exists but is disabled, so turning retraining on or off
    is a one-line settings change that `cdk diff` shows as such. `node.default_child`
    is the `CfnSchedule` (`resource`).

    Example::

        RetrainingSchedule(stack, "Weekly", pipeline=pipeline, key=key,
                           schedule_expression="cron(0 3 ? * MON *)",
                           parameters={"ModelApprovalStatus": "PendingManualApproval"})
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: IPipeline,
        key: kms.IKey,
        schedule_expression: str,
        parameters: Mapping[str, str] | None = None,
        enabled: bool = True,
        timezone: str = "UTC",
    ) -> None:
        """Create the schedule, its role and its dead-letter queue.

        :param pipeline: the pipeline to start: a `SageMakerPipeline` or
            `SageMakerPipeline.from_pipeline_name(...)`. Required.
        :param key: KMS key of the dead-letter queue, a messaging key such as
            `NotificationTopic.key` (the schedule's role sends with it). Required.
        :param schedule_expression: `cron(...)` or `rate(N minutes|hours|days)`. Required.
        :param parameters: pipeline parameter name -> value. When the pipeline's definition
            is known (a `SageMakerPipeline`), each name must be one it declares. Default
            none: the definition's defaults apply.
        :param enabled: whether the schedule runs. Default True.
        :param timezone: IANA time zone of `cron(...)` expressions. Default UTC.
        """
        check = Checks("RetrainingSchedule")
        check.text(
            "schedule_expression",
            schedule_expression,
            _EXPRESSION,
            "cron(...) or rate(N minutes|hours|days)",
        )
        check.text("timezone", timezone, _TIMEZONE, "an IANA time zone such as UTC or Europe/Paris")
        check.instance("enabled", enabled, bool, "True or False")
        if parameters is not None and check.instance(
            "parameters", parameters, Mapping, "a dict of parameter name -> str value"
        ):
            bad = {k: v for k, v in parameters.items() if not isinstance(v, str)}
            if bad:
                check.fail("parameters", Shown(repr(bad)), "str values")
            definition: Any = getattr(pipeline, "definition", None)
            if isinstance(definition, Mapping):
                declared = sorted(
                    str(p.get("Name"))
                    for p in definition.get("Parameters", []) or []
                    if isinstance(p, Mapping)
                )
                unknown = sorted(set(parameters) - set(declared))
                if unknown:
                    check.fail(
                        "parameters",
                        Shown(repr(unknown)),
                        f"parameters of pipeline {pipeline.pipeline_name}: {declared}",
                    )
        check.done()
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key)
        """Start requests the scheduler could not deliver."""
        self.role = iam.Role(
            self,
            "Role",
            # Schedules of this account's `default` group only (confused deputy).
            assumed_by=scheduler_principal(self),
            description=f"Starts SageMaker pipeline {pipeline.pipeline_name} on a schedule",
        )
        """The role the scheduler assumes; it may only start this pipeline."""
        pipeline.grant_start_execution(self.role)
        self.dead_letter_queue.grant_send_messages(self.role)
        acknowledge(
            self.role,
            {
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Sending to the encrypted"
                " dead-letter queue needs data keys of its one key.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the queue's key only.",
            },
        )
        acknowledge_inline_policy(self.role, "the scheduler's role")
        self.resource = scheduler.CfnSchedule(
            self,
            "Resource",
            description=f"Retrain with pipeline {pipeline.pipeline_name}",
            schedule_expression=schedule_expression,
            schedule_expression_timezone=timezone,
            state="ENABLED" if enabled else "DISABLED",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=pipeline.pipeline_arn,
                role_arn=self.role.role_arn,
                sage_maker_pipeline_parameters=scheduler.CfnSchedule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=[
                        scheduler.CfnSchedule.SageMakerPipelineParameterProperty(
                            name=name, value=value
                        )
                        for name, value in sorted((parameters or {}).items())
                    ]
                    or None
                ),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=10,
                    maximum_event_age_in_seconds=int(Duration.hours(6).to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letter_queue.queue_arn
                ),
            ),
        )
