"""`ModelApproval`: the rule and Lambda that judge, approve and promote registered models."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._nag import READ_GRANT_FINDINGS, acknowledge, wildcard_resource
from constructs_lib._queues import dead_letter_queue
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.model_registry import ModelRegistry

APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")
"""`ModelApprovalStatus` exactly as the state-change events spell it."""
DEFAULT_CODE = Path(__file__).resolve().parents[1] / "lambdas"
POWERTOOLS_LAYER_VERSION = 27
"""Version of the public `AWSLambdaPowertoolsPythonV3-python311-x86_64` layer."""


class ModelApproval(Construct):
    """React to model package state changes of one registry group.

    An EventBridge rule matches "SageMaker Model Package State Change" events for the
    group and the three approval statuses and invokes the approval function
    (`lambdas/approval`): pending packages are judged against `thresholds` and the
    current champion (approved or rejected automatically with policy `auto`); approved
    packages become a pull request that pins `target_environment` to the version (or an
    SNS instruction without a repository); rejections are announced on `topic`.

    Nothing is lost: the rule target and the function's async invocations retry and then
    dead-letter to one KMS-encrypted queue (`dead_letter_queue`), and the function sends
    events it cannot handle there itself. An alarm fires when the queue holds messages.

    Example::

        ModelApproval(stack, "Approval", registry=registry, artifacts=store,
                      evaluation_prefix="pipelines/churn/", topic=topic, key=store.key,
                      policy="auto", thresholds={"accuracy": 0.9}, primary_metric="accuracy")
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        registry: ModelRegistry,
        artifacts: ArtifactStore,
        evaluation_prefix: str,
        topic: sns.ITopic,
        key: kms.IKey,
        policy: Literal["manual", "auto"] = "manual",
        thresholds: Mapping[str, float],
        primary_metric: str,
        target_environment: str = "staging",
        github_repository: str | None = None,
        github_base_branch: str = "main",
        github_token_secret_name: str | None = None,
        manifest_path: str = "config/promotion.yaml",
        code_path: Path = DEFAULT_CODE,
        timeout: Duration | None = None,
        reserved_concurrency: int = 5,
    ) -> None:
        """Create the function, its rule, its dead-letter queue and an alarm on it.

        :param evaluation_prefix: key prefix of the evaluation reports in `artifacts`;
            the function reads nothing else there.
        :param policy: `manual` (default: judge and notify) or `auto` (also approve or
            reject).
        :param thresholds: metric name -> minimum, at least one.
        :param primary_metric: the metric a candidate must beat the champion on; one
            of `thresholds`.
        :param github_repository: `owner/name` to open promotion PRs in. Default none:
            promotion instructions go to `topic`.
        :param github_token_secret_name: Secrets Manager secret with the token; required
            with a repository, and the only secret the function may read.
        :param timeout: default 90 s (GitHub calls retry with backoff).
        :param reserved_concurrency: default 5: bursts of events cannot starve the account.
        """
        super().__init__(scope, construct_id)
        if policy not in ("manual", "auto"):
            raise ConfigurationError(f"approval.policy: got {policy!r}; allowed manual or auto")
        if not thresholds:
            raise ConfigurationError("approval.thresholds: got none; give at least one metric")
        if primary_metric not in thresholds:
            raise ConfigurationError(
                f"approval.primary_metric: got {primary_metric!r}; must be one of the"
                f" thresholds {sorted(thresholds)}"
            )
        if github_repository and not github_token_secret_name:
            raise ConfigurationError(
                f"promotion.token_secret_name: github repository {github_repository!r} needs"
                " the name of the Secrets Manager secret holding its token"
            )
        if not code_path.joinpath("approval", "handler.py").is_file():
            raise ConfigurationError(
                f"ModelApproval code_path: {code_path} has no approval/handler.py"
            )
        stack = Stack.of(self)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key)
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.THREE_MONTHS)
        environment = {
            "POWERTOOLS_SERVICE_NAME": "model-approval",
            "MODEL_PACKAGE_GROUP_NAME": registry.model_package_group_name,
            "APPROVAL_POLICY": policy,
            "QUALITY_THRESHOLDS": json.dumps(dict(sorted(thresholds.items()))),
            "PRIMARY_METRIC": primary_metric,
            "NOTIFICATION_TOPIC_ARN": topic.topic_arn,
            "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue.queue_url,
            "GITHUB_REPOSITORY": github_repository or "",
            "GITHUB_BASE_BRANCH": github_base_branch,
            "PROMOTION_MANIFEST_PATH": manifest_path,
            "PROMOTION_TARGET_ENVIRONMENT": target_environment,
        }
        secret = None
        if github_repository and github_token_secret_name:
            secret = secretsmanager.Secret.from_secret_name_v2(
                self, "GitHubToken", github_token_secret_name
            )
            environment["GITHUB_TOKEN_SECRET_ARN"] = secret.secret_arn
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Judges and promotes packages of {registry.model_package_group_name}",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="approval.handler.lambda_handler",
            code=lambda_.Code.from_asset(
                str(code_path), exclude=["**/__pycache__", "**/*.pyc", "**/.pytest_cache"]
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
            timeout=timeout or Duration.seconds(90),
            reserved_concurrent_executions=reserved_concurrency,
            environment=environment,
            log_group=log_group,
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        role = self.function.role
        assert role is not None
        (registry.grant_approve if policy == "auto" else registry.grant_read)(self.function)
        reports = f"{evaluation_prefix.strip('/')}/*"
        artifacts.grant_read(self.function, reports)
        topic.grant_publish(self.function)
        self.dead_letter_queue.grant_send_messages(self.function)
        findings = {
            **READ_GRANT_FINDINGS,
            wildcard_resource(self, artifacts.bucket.arn_for_objects(reports)): "Evaluation"
            " reports are written per pipeline execution under the pipeline's prefix.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Publishing to the encrypted"
            " topic and queue needs data keys of their one key.",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the queue's key only.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]": "Writes the function's own logs; no data access.",
        }
        acknowledge(
            self.function,
            {
                "AwsSolutions-L1": "Python 3.11 on purpose: the interpreter the handler is"
                " tested on (make test) and the Powertools layer is pinned for."
            },
        )
        if secret is not None:
            secret.grant_read(self.function)
            findings[wildcard_resource(self, f"{secret.secret_arn}")] = (
                "from_secret_name_v2 matches the secret's random six-character suffix."
            )
        acknowledge(role, findings)

        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Approval status changes of {registry.model_package_group_name}",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={
                    "ModelPackageGroupName": [registry.model_package_group_name],
                    "ModelApprovalStatus": list(APPROVAL_STATUSES),
                },
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
        self.dead_letter_alarm = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ).create_alarm(
            self,
            "DeadLetters",
            alarm_description="Model approval events were dead-lettered: inspect and replay",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm.add_alarm_action(actions.SnsAction(topic))
