"""`RetrainingTrigger`: start a pipeline when drift or model-quality alarms fire.

The loop closed: an EventBridge rule on the alarms entering ALARM invokes a function
(`lambdas/retraining`, shipped in the package) that starts the pipeline only when no
execution is Executing or Stopping and the last one started at least `min_interval`
ago; otherwise it skips, and says why. Limits used here:

- StartPipelineExecution: parameter values 0-1,024 characters, names
  `[A-Za-z0-9\\-_]{1,256}` (botocore's `Parameter` shape).
- EventBridge event patterns are at most 2,048 characters; 20 alarm ARNs fit.
- Pipeline executions time out after 672 hours (SageMaker quotas), so the function looks
  back that far for running executions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._nag import acknowledge
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validate import Checks, Shown, typed
from constructs_lib.model_approval import PACKAGED_CODE, POWERTOOLS_LAYER_VERSION, SOURCE_CODE
from constructs_lib.sagemaker_pipeline import IPipeline

MAX_ALARMS = 20
"""Alarms one trigger watches: their ARNs must fit the rule's 2,048-character pattern."""
MAX_PARAMETER_VALUE = 1024
MAX_INTERVAL_DAYS = 365
_PARAMETER = re.compile(r"[A-Za-z0-9\-_]{1,256}")
_ACCOUNT = re.compile(r"^\d{12}$")
_PACKAGE = "retraining"


def default_code_path() -> Path | None:
    """The folder holding `retraining/handler.py`: the installed package's `_lambdas`,
    else the source checkout's `lambdas`; None when neither has it."""
    for folder in (PACKAGED_CODE, SOURCE_CODE):
        if folder.joinpath(_PACKAGE, "handler.py").is_file():
            return folder
    return None


class RetrainingTrigger(Construct):
    """Start `pipeline` when any of `alarms` enters ALARM, at most one execution at a time.

    An EventBridge rule matches "CloudWatch Alarm State Change" events of `alarms` whose
    new state is ALARM and invokes the trigger function, which starts `pipeline` with
    `parameters` (plus `<alarm name>: <reason>` in `trigger_parameter`, when given) only
    if no execution is Executing or Stopping and the last one started at least
    `min_interval` ago. A start or a skip, with its reason, is logged as structured JSON
    and published to `topic` (when given).

    **At most one execution.** The function's reserved concurrency is 1, so two alarms
    firing together are handled one after the other (Lambda queues the second
    invocation and retries it): the second sees the first's execution and skips. The
    start's client request token is derived from the event id, so a retry of the same
    event cannot start a second one. A conditional write (a DynamoDB lock) would allow
    concurrency but adds a table, and the function is idle nearly always.

    **Nothing is lost.** The rule target retries (8 attempts, 6 hours) and dead-letters
    to a KMS-encrypted queue; the function's own failures (a malformed event, a
    configuration error, an AWS error after 2 retries) land in the same queue. An alarm
    fires when it holds messages. `node.default_child` is the function (`function`); the
    rule is `rule`.

    **Alarms in another account.** The rule listens on this account's default event
    bus. For alarms of a deploy account, an `AlarmForwarding` there sends their state
    changes here, this bus's policy lets that account put them, and `source_accounts`
    plus the alarms' ARNs (`cloudwatch.Alarm.from_alarm_arn`, fixed alarm names) say
    which forwarded events count.

    Example::

        RetrainingTrigger(stack, "Retrain", pipeline=pipeline, key=key, topic=topic,
                          alarms=monitor.drift_alarms(["age", "income"], 0.2),
                          min_interval=Duration.hours(24),
                          parameters={"ModelApprovalStatus": "PendingManualApproval"})
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: IPipeline,
        alarms: Sequence[cloudwatch.IAlarm],
        key: kms.IKey,
        min_interval: Duration | None = None,
        parameters: Mapping[str, str] | None = None,
        trigger_parameter: str | None = None,
        topic: sns.ITopic | None = None,
        source_accounts: Sequence[str] | None = None,
        code_path: Path | str | None = None,
    ) -> None:
        """Create the rule, the function, its log group, dead-letter queue and alarm.

        :param pipeline: the pipeline to start: a `SageMakerPipeline` or
            `SageMakerPipeline.from_pipeline_name(...)`. Required.
        :param alarms: 1 to 20 alarms (drift, model-quality violations, composite
            alarms); any one entering ALARM asks for a start. Required.
        :param key: KMS key of the dead-letter queue and the function's log group.
            Required.
        :param min_interval: no start when the last execution started less than this
            long ago; 0 to 365 days. Default 24 hours.
        :param parameters: pipeline parameter name -> value for every start. When the
            pipeline's definition is known (a `SageMakerPipeline`), each name must be one
            it declares. Default none: the definition's defaults.
        :param trigger_parameter: a String parameter the pipeline declares that receives
            `<alarm name>: <state reason>` (cut to 1,024 characters), so the execution
            records why it ran. Default none.
        :param topic: where each start or skip is published. Default none: logged only.
        :param source_accounts: accounts whose alarm events the rule accepts (the
            event's `account`), when the alarms live in other accounts and an
            `AlarmForwarding` there sends their state changes to this account's default
            event bus; import such alarms with `cloudwatch.Alarm.from_alarm_arn`. 1 to
            20 account ids. Default none: no account filter (the alarm ARNs name theirs).
        :param code_path: folder holding `retraining/handler.py`. Default: the code
            shipped in the installed package, or a source checkout's `lambdas/`.
        """
        interval = min_interval if min_interval is not None else Duration.hours(24)
        check = Checks("RetrainingTrigger")
        check.has("pipeline", pipeline, "pipeline_arn", "an IPipeline (SageMakerPipeline)")
        _check_alarms(check, alarms)
        check.has("key", key, "key_arn", "a kms.IKey")
        check.duration("min_interval", interval, 0, MAX_INTERVAL_DAYS * 86400)
        declared = _declared_parameters(pipeline)
        _check_parameters(check, parameters, trigger_parameter, declared, pipeline)
        if topic is not None:
            check.has("topic", topic, "topic_arn", "an sns.ITopic or None")
        if (
            source_accounts is not None
            and check.strings("source_accounts", source_accounts, _ACCOUNT, "12-digit account id")
            and not 1 <= len(list(source_accounts)) <= MAX_ALARMS
        ):
            check.fail(
                "source_accounts",
                Shown(f"{len(source_accounts)} accounts"),
                "1 to 20 account ids, or None",
            )
        code = _code_path(check, code_path)
        check.done()
        assert code is not None  # done() raised otherwise
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key)
        """Events neither the rule nor the function could handle."""
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=key,
        )
        _allow_logs_encryption(key, stack)
        environment = {
            "POWERTOOLS_SERVICE_NAME": "retraining-trigger",
            "PIPELINE_NAME": pipeline.pipeline_name,
            "MIN_INTERVAL_SECONDS": str(int(interval.to_seconds())),
            "PIPELINE_PARAMETERS": json.dumps(dict(sorted((parameters or {}).items()))),
            "TRIGGER_PARAMETER": trigger_parameter or "",
            "NOTIFICATION_TOPIC_ARN": topic.topic_arn if topic is not None else "",
        }
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Starts SageMaker pipeline {pipeline.pipeline_name} on alarms",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler=f"{_PACKAGE}.handler.lambda_handler",
            code=lambda_.Code.from_asset(
                str(code),
                exclude=["*", f"!{_PACKAGE}", f"!{_PACKAGE}/*.py"],
            ),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    stack.format_arn(
                        service="lambda",
                        account="017000801446",
                        resource="layer",
                        resource_name="AWSLambdaPowertoolsPythonV3-python311-x86_64:"
                        f"{POWERTOOLS_LAYER_VERSION}",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    ),
                )
            ],
            architecture=lambda_.Architecture.X86_64,
            memory_size=256,
            timeout=Duration.seconds(60),
            # One invocation at a time: the check-then-start cannot race itself.
            reserved_concurrent_executions=1,
            environment=environment,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            dead_letter_queue=self.dead_letter_queue,
        )
        """The trigger function (`node.default_child`)."""
        self.node.default_child = self.function
        pipeline.grant_start_execution(self.function)
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["sagemaker:ListPipelineExecutions"],
            resource_arns=[pipeline.pipeline_arn],
        )
        if topic is not None:
            topic.grant_publish(self.function)
        self._acknowledge()

        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Alarms that retrain with pipeline {pipeline.pipeline_name}",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                account=list(source_accounts) if source_accounts else None,
                resources=[alarm.alarm_arn for alarm in alarms],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
        """The EventBridge rule on the alarms entering ALARM."""
        self.dead_letter_alarm = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ).create_alarm(
            self,
            "DeadLetters",
            alarm_description="Retraining trigger events were dead-lettered: inspect and replay",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        """Fires when the dead-letter queue holds messages (notifies `topic`, when given)."""
        if topic is not None:
            self.dead_letter_alarm.add_alarm_action(actions.SnsAction(topic))
        else:
            acknowledge(
                self.dead_letter_alarm,
                {
                    f"{pack}-CloudWatchAlarmAction": "No topic was given to this trigger: the"
                    " alarm shows dead letters on the console and dashboards only."
                    for pack in ("NIST.800.53.R5", "HIPAA.Security")
                },
            )

    def _acknowledge(self) -> None:
        role = self.function.role
        assert role is not None
        acknowledge(
            role,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "Writes the function's own logs; no data access.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Publishing to the encrypted"
                " topic and dead-letter queue needs data keys of their keys.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the queue's key only.",
                "AwsSolutions-IAM5[Resource::*]": "X-Ray trace writes (PutTraceSegments,"
                " PutTelemetryRecords) have no resource-level permissions.",
                **{
                    f"{pack}-IAMNoInlinePolicy": "The role's own policy holds only this"
                    " function's grants (list and start one pipeline, publish to one topic,"
                    " send to one queue); no other principal uses the role."
                    for pack in ("NIST.800.53.R5", "HIPAA.Security")
                },
            },
        )
        acknowledge(
            self.function,
            {
                "AwsSolutions-L1": "Python 3.11 on purpose: the interpreter the handler is"
                " tested on and the Powertools layer is pinned for.",
                "Serverless-LambdaLatestVersion": "Python 3.11 on purpose: the interpreter the"
                " handler is tested on and the Powertools layer is pinned for.",
                "Serverless-LambdaAsyncFailureDestination": "Failed asynchronous invocations go"
                " to the dead-letter queue (DeadLetterConfig), the queue a failure destination"
                " would name.",
                **{
                    f"{pack}-LambdaInsideVPC": "The function calls only the SageMaker and SNS"
                    " APIs and reads no data; it needs no network path into a VPC."
                    for pack in ("NIST.800.53.R5", "HIPAA.Security")
                },
            },
        )


def _check_alarms(check: Checks, alarms: Any) -> None:
    allowed = f"a list of 1 to {MAX_ALARMS} cloudwatch.IAlarm"
    if isinstance(alarms, str) or not isinstance(alarms, Sequence):
        check.fail("alarms", typed(alarms), allowed)
    elif not 1 <= len(alarms) <= MAX_ALARMS:
        check.fail("alarms", Shown(f"{len(alarms)} alarms"), allowed)
    else:
        for index, alarm in enumerate(alarms):
            check.has(f"alarms[{index}]", alarm, "alarm_arn", "a cloudwatch.IAlarm")


def _declared_parameters(pipeline: Any) -> dict[str, str] | None:
    """Parameter name -> type the pipeline's definition declares, when it is known."""
    definition = getattr(pipeline, "definition", None)
    if not isinstance(definition, Mapping):
        return None
    return {
        str(p.get("Name")): str(p.get("Type", "String"))
        for p in definition.get("Parameters", []) or []
        if isinstance(p, Mapping)
    }


def _check_parameters(
    check: Checks,
    parameters: Any,
    trigger_parameter: Any,
    declared: dict[str, str] | None,
    pipeline: Any,
) -> None:
    name = getattr(pipeline, "pipeline_name", None)
    known = f"parameters of pipeline {name!r}: {sorted(declared or {})}"
    if parameters is not None and check.instance(
        "parameters", parameters, Mapping, "a dict of parameter name -> str value"
    ):
        bad = {
            k: v
            for k, v in parameters.items()
            if not isinstance(k, str)
            or not _PARAMETER.fullmatch(k)
            or not isinstance(v, str)
            or (not Token.is_unresolved(v) and len(v) > MAX_PARAMETER_VALUE)
        }
        if bad:
            check.fail(
                "parameters",
                Shown(repr(bad)),
                "names of letters, digits, '-' and '_' (1-256) with str values of at most"
                f" {MAX_PARAMETER_VALUE} characters",
            )
        unknown = sorted(set(map(str, parameters)) - set(declared)) if declared is not None else []
        if unknown:
            check.fail("parameters", Shown(repr(unknown)), known)
    if trigger_parameter is None:
        return
    if not check.text(
        "trigger_parameter", trigger_parameter, _PARAMETER, "a parameter name or None"
    ):
        return
    if declared is not None and declared.get(trigger_parameter) != "String":
        check.fail("trigger_parameter", trigger_parameter, f"a String parameter; {known}")
    if isinstance(parameters, Mapping) and trigger_parameter in parameters:
        check.fail(
            "trigger_parameter",
            trigger_parameter,
            "a parameter not also set in parameters (the alarm's text would replace it)",
        )


def _allow_logs_encryption(key: kms.IKey, stack: Stack) -> None:
    """Let CloudWatch Logs use `key` for this account's log groups (a created key only:
    an imported key's policy is its owner's to write)."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )


def _code_path(check: Checks, code_path: Path | str | None) -> Path | None:
    if code_path is None:
        found = default_code_path()
        if found is None:
            check.fail(
                "code_path",
                None,
                f"a folder holding {_PACKAGE}/handler.py; the function's code is in neither"
                f" the installed package ({PACKAGED_CODE}) nor a source checkout"
                f" ({SOURCE_CODE}): reinstall the library or pass code_path",
            )
        return found
    if not isinstance(code_path, str | Path):
        check.fail("code_path", typed(code_path, with_value=False), "a Path")
        return None
    folder = Path(code_path)
    if not folder.joinpath(_PACKAGE, "handler.py").is_file():
        check.fail("code_path", Shown(str(folder)), f"a folder holding {_PACKAGE}/handler.py")
        return None
    return folder
