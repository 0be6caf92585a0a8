"""`ModelApproval`: the rule and Lambda that judge, approve and promote registered models."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._logs import encrypted_log_group
from constructs_lib._nag import (
    READ_GRANT_FINDINGS,
    Finding,
    acknowledge,
    acknowledge_inline_policy,
    in_packs,
    wildcard_resource,
)
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validate import Checks, Shown, typed
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.metrics import (
    DIRECTIONS,
    KNOWN_DIRECTIONS,
    PROBLEM_TYPES,
    REPORT_METRICS,
    Direction,
    MetricThreshold,
    ProblemType,
)
from constructs_lib.model_registry import IModelPackageGroup

APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")
"""`ModelApprovalStatus` exactly as the state-change events spell it."""
PACKAGED_CODE = Path(__file__).resolve().parent / "_lambdas"
"""Where an installed library keeps the function's code (package data)."""
SOURCE_CODE = Path(__file__).resolve().parents[1] / "lambdas"
"""Where a source checkout keeps it (the repository's top-level `lambdas/`)."""
RUNTIME = lambda_.Runtime.PYTHON_3_14
"""The function's runtime: the latest Python that aws-cdk-lib and the Powertools layer offer."""
POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python314-x86_64"
"""The public Powertools layer built for `RUNTIME` (it also brings pydantic)."""
POWERTOOLS_LAYER_VERSION = 27
"""Version of `POWERTOOLS_LAYER`."""

_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_BRANCH = re.compile(r"(?!/)(?!.*\.\.)(?!.*/$)(?!.*\.lock$)[A-Za-z0-9._/-]{1,200}")
_ENVIRONMENT = re.compile(r"[a-z][a-z0-9-]{1,20}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_MANIFEST_PATH = re.compile(r"(?!/)(?!(.*/)?\.\.(/|$))[A-Za-z0-9._/-]{1,1024}")
_METRIC = re.compile(r"\S+")


def default_code_path() -> Path | None:
    """The folder holding `approval/handler.py`: the installed package's `_lambdas`,
    else the source checkout's `lambdas`; None when neither has it."""
    for folder in (PACKAGED_CODE, SOURCE_CODE):
        if folder.joinpath("approval", "handler.py").is_file():
            return folder
    return None


class ModelApproval(Construct):
    """React to model package state changes of one registry group.

    An EventBridge rule matches "SageMaker Model Package State Change" events for the
    group and the three approval statuses and invokes the approval function
    (`lambdas/approval`, shipped in the package): pending packages are judged against
    `thresholds` and the current champion (approved or rejected automatically with
    policy `auto`); approved packages become a pull request that pins this model
    (`promotion_model`) to the version in `target_environment` of the promotion manifest
    (or an SNS instruction without a repository);
    rejections are announced on `topic`.

    Each threshold is a minimum or a maximum (`MetricThreshold`), and the champion
    comparison follows the primary metric's direction: for rmse a candidate beats the
    champion by being lower. Declare what the evaluation report contains with
    `problem_type` (SageMaker's model quality report: `binary_classification`,
    `multiclass_classification` or `regression`) and/or `report_metrics` (the names a
    custom report writes), and a metric the report cannot contain is refused here rather
    than holding every candidate later.

    Nothing is lost: the rule target and the function's async invocations retry and then
    dead-letter to one KMS-encrypted queue (`dead_letter_queue`, the function's own
    dead-letter queue too), and the function sends events it cannot handle there itself:
    every message there is the original event. An alarm fires when the queue holds
    messages. The function is traced with X-Ray and logs to a KMS-encrypted log group.
    `node.default_child` is the function (`function`); the rule is `rule`.

    Example::

        ModelApproval(stack, "Approval", registry=registry, artifacts=store,
                      evaluation_prefix="pipelines/house-prices/", topic=topic.topic, key=topic.key,
                      policy="auto", problem_type="regression",
                      thresholds=[MetricThreshold(metric="rmse", maximum=3.5),
                                  MetricThreshold(metric="r2", minimum=0.6)],
                      primary_metric="rmse")
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        registry: IModelPackageGroup,
        artifacts: ArtifactStore | s3.IBucket,
        evaluation_prefix: str,
        topic: sns.ITopic,
        key: kms.IKey,
        thresholds: Sequence[MetricThreshold],
        primary_metric: str,
        primary_metric_direction: Direction | None = None,
        problem_type: ProblemType | None = None,
        report_metrics: Sequence[str] | None = None,
        policy: Literal["manual", "auto"] = "manual",
        target_environment: str = "staging",
        promotion_model: str | None = None,
        github_repository: str | None = None,
        github_base_branch: str = "main",
        github_token_secret_name: str | None = None,
        manifest_path: str = "config/promotion.yaml",
        code_path: Path | str | None = None,
        timeout: Duration | None = None,
        reserved_concurrency: int | None = 5,
    ) -> None:
        """Create the function, its rule, its dead-letter queue and an alarm on it.

        :param registry: the model package group whose packages are judged (a
            `ModelRegistry` or `ModelRegistry.from_model_package_group_name`). Required.
        :param artifacts: the store (or any bucket) holding the evaluation reports.
            Required.
        :param evaluation_prefix: key prefix (a folder, ending with '/') of the evaluation
            reports in `artifacts`; the function reads nothing else there. Required.
        :param topic: where summaries, rejections and promotion instructions go. Required.
        :param key: KMS key of the dead-letter queue: a messaging key such as
            `NotificationTopic.key`, not the key of stored data. Required.
        :param thresholds: at least one `MetricThreshold` (a minimum or a maximum per
            metric); a candidate outside any of them is rejected. Required.
        :param primary_metric: the metric a candidate must beat the champion on; it
            need not have a threshold. Required.
        :param primary_metric_direction: `higher` or `lower`, which way the primary
            metric is better. Default: from its threshold (a maximum means lower), else
            from SageMaker's model quality metrics (`constructs_lib.metrics`); a custom
            metric with neither must declare it.
        :param problem_type: the evaluation report is SageMaker's model quality report
            of this type, so its metrics are those of the section `<problem_type>_metrics`
            (`REPORT_METRICS`). Default none: the report's metrics are not known from it.
        :param report_metrics: metric names the evaluation report contains (a custom
            report, or names added to `problem_type`'s). Default none. With either
            `problem_type` or `report_metrics`, thresholds and `primary_metric` outside
            the report's metrics are refused.
        :param policy: `manual` (default: judge and notify) or `auto` (also approve or
            reject).
        :param target_environment: the environment an approved version is promoted to
            (its entry in the manifest). Default `staging`.
        :param promotion_model: the model's key in the promotion manifest; a promotion
            pull request changes only `models.<promotion_model>.<target_environment>`, on
            branch `promote/<promotion_model>-v<version>-<environment>`. Default: the
            model package group name.
        :param github_repository: `owner/name` to open promotion PRs in. Default none:
            promotion instructions go to `topic`.
        :param github_base_branch: branch promotion PRs target. Default `main`.
        :param github_token_secret_name: Secrets Manager secret with the token; required
            with a repository (and only with one), and the only secret the function may
            read. Default none.
        :param manifest_path: promotion manifest path in the repository. Default
            `config/promotion.yaml`.
        :param code_path: folder holding `approval/handler.py`. Default none: the code
            shipped in the installed package, or a source checkout's `lambdas/`.
        :param timeout: 1 to 900 seconds. Default 90 s (GitHub calls retry with backoff).
        :param reserved_concurrency: concurrent executions reserved for the function.
            Default 5: bursts of events cannot starve the account. None reserves none.
        """
        super().__init__(scope, construct_id)
        check = Checks("ModelApproval")
        check.instance(
            "registry",
            registry,
            IModelPackageGroup,
            "an IModelPackageGroup (ModelRegistry, or ModelRegistry.from_model_package_group_name)",
        )
        bucket = artifacts.bucket if isinstance(artifacts, ArtifactStore) else artifacts
        check.has("artifacts", bucket, "bucket_name", "an ArtifactStore or an s3.IBucket")
        check.key_prefix("evaluation_prefix", evaluation_prefix)
        check.has("topic", topic, "topic_arn", "an sns.ITopic")
        check.has("key", key, "key_arn", "a kms.IKey")
        check.one_of("policy", policy, ["manual", "auto"])
        direction = _check_metrics(
            check,
            thresholds,
            primary_metric,
            primary_metric_direction,
            problem_type,
            report_metrics,
        )
        check.text(
            "target_environment",
            target_environment,
            _ENVIRONMENT,
            "an environment name of the manifest: 2-21 lower-case letters, digits and"
            " hyphens, starting with a letter",
        )
        if promotion_model is not None:
            check.text(
                "promotion_model",
                promotion_model,
                _MODEL,
                "a model name of the manifest: 1-63 letters, digits, '.', '_' and '-',"
                " starting with a letter or digit",
            )
        if github_repository is not None:
            check.text("github_repository", github_repository, _REPOSITORY, "owner/name")
        check.text("github_base_branch", github_base_branch, _BRANCH, "a git branch name")
        if github_token_secret_name is not None:
            check.text(
                "github_token_secret_name",
                github_token_secret_name,
                _SECRET_NAME,
                "a Secrets Manager secret name (1-512 letters, digits and /_+=.@-)",
            )
        if github_repository and github_token_secret_name is None:
            check.fail(
                "github_token_secret_name",
                None,
                f"the name of the Secrets Manager secret holding the token of github_repository"
                f" {github_repository!r}",
            )
        if github_token_secret_name is not None and github_repository is None:
            check.fail(
                "github_token_secret_name",
                github_token_secret_name,
                "only with github_repository (no repository means no token is read)",
            )
        check.text(
            "manifest_path",
            manifest_path,
            _MANIFEST_PATH,
            "a path relative to the repository root, e.g. config/promotion.yaml",
        )
        if timeout is not None:
            check.duration("timeout", timeout, 1, 900)
        if reserved_concurrency is not None:
            check.integer("reserved_concurrency", reserved_concurrency, 1)
        code = _code_path(check, code_path)
        check.done()
        assert code is not None and direction is not None  # done() raised otherwise

        stack = Stack.of(self)
        # The rule's target dead-letters here itself: EventBridge needs the key too.
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key, event_rules=True)
        log_group = encrypted_log_group(self, "Logs")
        environment = {
            "POWERTOOLS_SERVICE_NAME": "model-approval",
            "MODEL_PACKAGE_GROUP_NAME": registry.model_package_group_name,
            "APPROVAL_POLICY": policy,
            "QUALITY_THRESHOLDS": json.dumps(
                {
                    t.metric: {"minimum" if t.direction == "higher" else "maximum": t.bound}
                    for t in sorted(thresholds, key=lambda t: t.metric)
                }
            ),
            "PRIMARY_METRIC": primary_metric,
            "PRIMARY_METRIC_DIRECTION": direction,
            "NOTIFICATION_TOPIC_ARN": topic.topic_arn,
            "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue.queue_url,
            "GITHUB_REPOSITORY": github_repository or "",
            "GITHUB_BASE_BRANCH": github_base_branch,
            "PROMOTION_MANIFEST_PATH": manifest_path,
            "PROMOTION_TARGET_ENVIRONMENT": target_environment,
            "PROMOTION_MODEL": promotion_model or registry.model_package_group_name,
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
            runtime=RUNTIME,
            handler="approval.handler.lambda_handler",
            code=lambda_.Code.from_asset(
                str(code), exclude=["**/__pycache__", "**/*.pyc", "**/.pytest_cache"]
            ),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    stack.format_arn(
                        service="lambda",
                        account="017000801446",
                        resource="layer",
                        resource_name=f"{POWERTOOLS_LAYER}:{POWERTOOLS_LAYER_VERSION}",
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
            tracing=lambda_.Tracing.ACTIVE,
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            # A dead-letter queue rather than an on-failure destination: the message is
            # the original event, like those of the rule target and of the function.
            dead_letter_queue=self.dead_letter_queue,
        )
        # The primary resource (`node.default_child`); the id stays "Function" so an
        # update keeps the function.
        self.node.default_child = self.function
        role = self.function.role
        assert role is not None
        (registry.grant_approve if policy == "auto" else registry.grant_read)(self.function)
        reports = f"{evaluation_prefix}*"
        bucket.grant_read(self.function, reports)
        topic.grant_publish(self.function)
        self.dead_letter_queue.grant_send_messages(self.function)
        findings: dict[str | Finding, str] = {k: v for k, v in READ_GRANT_FINDINGS.items()}
        findings.update(
            {
                wildcard_resource(self, bucket.arn_for_objects(reports)): "Evaluation"
                " reports are written per pipeline execution under the pipeline's prefix.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Publishing to the encrypted"
                " topic and queue needs data keys of their one key.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the queue's key only.",
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "Writes the function's own logs; no data access.",
                "AwsSolutions-IAM5[Resource::*]": "X-Ray tracing (Tracing.ACTIVE):"
                " xray:PutTraceSegments and xray:PutTelemetryRecords support no resource"
                " other than *.",
            }
        )
        acknowledge(
            self.function,
            {
                "Serverless-LambdaAsyncFailureDestination": "Failed asynchronous invocations"
                " go to the function's dead-letter queue (DeadLetterConfig, which AWS Config's"
                " lambda-dlq-check requires), with the original event as the message; an"
                " on-failure destination as well would write every failed event twice.",
            },
        )
        acknowledge(
            self.function,
            in_packs(
                "LambdaInsideVPC",
                "The function calls the GitHub API on the internet besides SageMaker, S3,"
                " SNS, SQS and Secrets Manager: inside a VPC it would need a NAT gateway; it"
                " reaches no resource inside a VPC.",
            ),
        )
        acknowledge_inline_policy(role, "the approval function's execution role")
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


def _code_path(check: Checks, code_path: Path | str | None) -> Path | None:
    if code_path is None:
        found = default_code_path()
        if found is None:
            check.fail(
                "code_path",
                None,
                "a folder holding approval/handler.py; the function's code is in neither the"
                f" installed package ({PACKAGED_CODE}) nor a source checkout ({SOURCE_CODE}):"
                " reinstall the library or pass code_path",
            )
        return found
    if not isinstance(code_path, str | Path):
        check.fail("code_path", typed(code_path, with_value=False), "a Path")
        return None
    folder = Path(code_path)
    if not folder.joinpath("approval", "handler.py").is_file():
        check.fail("code_path", Shown(str(folder)), "a folder holding approval/handler.py")
        return None
    return folder


def _check_metrics(
    check: Checks,
    thresholds: Any,
    primary_metric: Any,
    primary_metric_direction: Any,
    problem_type: Any,
    report_metrics: Any,
) -> Direction | None:
    """Check the thresholds and the primary metric; return the primary's direction."""
    example = "a list of MetricThreshold, e.g. [MetricThreshold(metric='accuracy', minimum=0.9)]"
    valid: list[MetricThreshold] = []
    if isinstance(thresholds, str | Mapping) or not isinstance(thresholds, Sequence):
        check.fail("thresholds", typed(thresholds), example)
    elif not thresholds:
        check.fail("thresholds", Shown("none"), f"at least one: {example}")
    else:
        bad = [t for t in thresholds if not isinstance(t, MetricThreshold)]
        if bad:
            check.fail("thresholds", Shown(repr(bad)), example)
        valid = [t for t in thresholds if isinstance(t, MetricThreshold)]
        names = [t.metric for t in valid]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            check.fail("thresholds", Shown(f"{twice} more than once"), "one threshold per metric")
    primary_ok = check.text("primary_metric", primary_metric, _METRIC, "a metric name")
    check.one_of("primary_metric_direction", primary_metric_direction, [None, *DIRECTIONS])
    check.one_of("problem_type", problem_type, [None, *PROBLEM_TYPES])
    if report_metrics is not None:
        check.strings("report_metrics", report_metrics, _METRIC, "metric name")
    if not check.ok():
        return None

    known = set(report_metrics or ())
    if problem_type is not None:
        known |= set(REPORT_METRICS[problem_type])
    if problem_type is not None or report_metrics is not None:
        declared = ", ".join(
            ([f"problem_type {problem_type!r}"] if problem_type else [])
            + ([f"report_metrics {sorted(report_metrics)}"] if report_metrics is not None else [])
        )
        allowed = f"metrics the evaluation report contains ({declared}): {', '.join(sorted(known))}"
        outside = sorted({t.metric for t in valid} - known)
        if outside:
            check.fail("thresholds", Shown(repr(outside)), allowed)
        if primary_ok and primary_metric not in known:
            check.fail("primary_metric", primary_metric, allowed)

    own = next((t.direction for t in valid if t.metric == primary_metric), None)
    table = KNOWN_DIRECTIONS.get(primary_metric)
    direction: Direction | None = primary_metric_direction or own or table
    if direction is None:
        check.fail(
            "primary_metric_direction",
            None,
            f"'higher' or 'lower': {primary_metric!r} has no threshold and is not a SageMaker"
            " model quality metric, so say which way it is better",
        )
    for source, implied in (("its threshold", own), ("SageMaker's metric table", table)):
        if primary_metric_direction is not None and implied not in (None, primary_metric_direction):
            check.fail(
                "primary_metric_direction",
                primary_metric_direction,
                f"{implied!r}, as {source} says for {primary_metric!r}",
            )
    return direction
