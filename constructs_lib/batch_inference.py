"""`BatchInference`: score files with a registered model version on a schedule.

A one-step SageMaker Pipeline (a Transform step on the served model) started by an
EventBridge Scheduler schedule, with failure notifications and optional Model Monitor
data quality on what the transform captured. Limits checked here:

- CreateTransformJob (botocore shape): `SplitType` None, Line, RecordIO or TFRecord;
  `BatchStrategy` MultiRecord or SingleRecord; `AssembleWith` None or Line;
  `InstanceCount` 1 up; `MaxPayloadInMB` 0-100 (API reference: "cannot be greater than
  100 MB"); `MaxConcurrentTransforms` 0 up.
- Model Monitor reads captured batch data as CSV, JSON (lines or not) or Parquet
  (`MonitoringDatasetFormat`), so with monitoring the content type must be one of
  those; batch-transform metrics go to `aws/sagemaker/ModelMonitoring/data-metrics`
  with the `MonitoringSchedule` dimension (Model Monitor's CloudWatch metrics page).
- EventBridge Scheduler expressions: `at(yyyy-mm-ddThh:mm:ss)`, `rate(N unit)` and
  `cron(minutes hours day-of-month month day-of-week year)`, in an IANA time zone.
"""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib import placeholders
from constructs_lib._kms import allow_volume_encryption
from constructs_lib._logs import allow_sagemaker_logs
from constructs_lib._nag import (
    READ_GRANT_FINDINGS,
    Finding,
    acknowledge,
    imported_key_findings,
    wildcard_resource,
)
from constructs_lib._principals import sagemaker_principal, scheduler_principal
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validate import Checks, Shown, typed
from constructs_lib.data_quality_monitor import (
    _FEATURE,
    _FEATURE_RULE,
    BASELINE_FIELDS,
    MAX_RUNTIME_SECONDS,
    schedule_period_seconds,
)
from constructs_lib.images import model_monitor_image
from constructs_lib.pipeline_notifications import PipelineNotifications
from constructs_lib.realtime_endpoint import _INSTANCE_TYPE
from constructs_lib.sagemaker_pipeline import SageMakerPipeline
from constructs_lib.vpc_config import VpcConfig, allow_network_interfaces

RUNS_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
"""Where SageMaker Pipelines publishes each pipeline's execution counts and duration."""
RUN_METRICS = (
    "ExecutionStarted",
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionStopped",
    "ExecutionDuration",
)
METRIC_NAMESPACE = "aws/sagemaker/ModelMonitoring/data-metrics"
"""Where Model Monitor publishes batch-transform data-quality metrics."""
DATASET_FORMATS: dict[str, dict[str, Any]] = {
    "text/csv": {"Csv": {}},
    "application/jsonlines": {"Json": {"Line": True}},
    "application/json": {"Json": {"Line": False}},
    "application/x-parquet": {"Parquet": True},
}
"""Content types Model Monitor can read back from the capture, and its DatasetFormat."""
MAX_PAYLOAD_MB = 100
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+(;.*)?")
_CRON_FIELD = r"[0-9A-Za-z*?,/#L-]+"
_SCHEDULE = re.compile(
    r"at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)"
    r"|rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)"
    rf"|cron\({_CRON_FIELD}( {_CRON_FIELD}){{5}}\)"
)
_SCHEDULE_ALLOWED = (
    "cron(minutes hours day-of-month month day-of-week year), rate(1 hour|N hours|...) or"
    " at(yyyy-mm-ddThh:mm:ss)"
)
_CAPTURE = "data-capture/"
_PREDICTIONS = "predictions"
_REPORTS = "monitoring-reports/"
_SDK_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
"""The id aws-cdk-lib gives its AwsCustomResource provider function (one per stack)."""


class BatchModel(Protocol):
    """What a batch transform needs of its model (a `RegisteredModel` is one).

    The transform job runs as the model's role: it reads the input, writes the output
    and the capture, and uses the KMS key through it.
    """

    @property
    def model_name(self) -> str: ...
    @property
    def model_package_arn(self) -> str: ...
    @property
    def role(self) -> iam.IRole: ...
    @property
    def network_isolation(self) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class BatchMonitoring:
    """Model Monitor data quality on the records each batch run scores.

    The transform captures its input and output (`DataCaptureConfig`, with inference
    ids) under `<output_prefix>data-capture/`; a `DataQualityJobDefinition` reads them
    as `BatchTransformInput` and compares them with the package's data-quality baseline
    (`ModelMetrics.ModelDataQuality`, read from the package at deploy time).
    """

    baseline_bucket: s3.IBucket
    """Bucket holding the baseline statistics and constraints (the build account's
    artifact bucket). Required."""
    baseline_prefix: str
    """Key prefix (folder, ending with '/') of the baselines; reads are limited to it.
    Required."""
    schedule_expression: str = "cron(0 * ? * * *)"
    """Model Monitor cron: hourly `cron(0 * ? * * *)`, daily `cron(0 H ? * * *)`
    or every N hours `cron(0 H/N ? * * *)`. Default hourly."""
    csv_header: bool = False
    """Whether captured CSV files start with a header row. Default False."""
    instance_type: str = "ml.m5.large"
    """Monitoring job instance type. Default ml.m5.large."""
    volume_size_in_gb: int = 20
    """Monitoring job volume, 1 to 16384 GB. Default 20."""
    max_runtime: Duration = field(default_factory=lambda: Duration.hours(1))
    """Monitoring job time limit, 1 s up to the schedule's period. Default 1 hour."""
    vpc: VpcConfig | None = None
    """Subnets and security groups the monitoring jobs run in (their role may manage
    network interfaces there). Default none: outside any VPC."""

    def __post_init__(self) -> None:
        check = Checks("BatchMonitoring")
        check.has("baseline_bucket", self.baseline_bucket, "bucket_name", "an s3.IBucket")
        check.key_prefix("baseline_prefix", self.baseline_prefix)
        period = (
            schedule_period_seconds(self.schedule_expression)
            if isinstance(self.schedule_expression, str)
            else None
        )
        if period is None:
            check.fail(
                "schedule_expression",
                self.schedule_expression,
                "cron(0 * ? * * *) (hourly), cron(0 H ? * * *) (daily at hour H, 0-23) or"
                " cron(0 H/N ? * * *) (every N hours, 1-24)",
            )
        check.instance("csv_header", self.csv_header, bool, "True or False")
        check.text("instance_type", self.instance_type, _INSTANCE_TYPE, "ml.<family>.<size>")
        check.integer("volume_size_in_gb", self.volume_size_in_gb, 1, 16384)
        check.duration(
            "max_runtime",
            self.max_runtime,
            1,
            min(period or MAX_RUNTIME_SECONDS, MAX_RUNTIME_SECONDS),
        )
        if self.vpc is not None:
            check.instance("vpc", self.vpc, VpcConfig, "a VpcConfig or None")
        check.done()


class BatchInference(Construct):
    """Score the files under `input_prefix` with `model` on `schedule_expression`.

    **Pipeline.** A `SageMakerPipeline` named `pipeline_name` with one Transform step
    (`Score`) on `model` (the pinned package version, e.g. a `RegisteredModel`): it
    reads every object under `input_prefix` and writes `<object>.out` files under
    `<output_prefix>predictions/<execution id>/`, so runs never overwrite each other.
    The job's volume, its output and its capture are encrypted with `kms_key`; the
    model must have network isolation on. The transform job runs as the model's role,
    which is granted reads of `input_prefix`, writes under `output_prefix`, the key and
    its logs.

    **Schedule.** An EventBridge Scheduler schedule (`resource`,
    `node.default_child`) starts the pipeline through the SageMaker
    StartPipelineExecution templated target, with retries (185 attempts within 24 hours
    is Scheduler's default; here 10 within 6 hours) and a KMS-encrypted dead-letter
    queue. `enabled=False` keeps it but disables it.

    **Failures** (with `topic`): executions that end Failed are published to `topic`
    (`PipelineNotifications`).

    **Monitoring** (with `monitoring`): the transform captures what it scores and a
    Model Monitor data-quality schedule checks it against the package's baseline;
    `metric_feature_drift(feature)` and `drift_alarms(...)` read its metrics. The
    transform runs in the model's VPC (if any) and the monitoring jobs in
    `BatchMonitoring.vpc`.

    Example::

        model = RegisteredModel(stack, "Model", model_package_arn=registry.package_arn(7),
                                artifact_bucket=build_bucket, artifact_prefix="pipelines/churn/")
        BatchInference(stack, "Nightly", model=model, pipeline_name="churn-prod-batch",
                       data_bucket=store.bucket, input_prefix="batch/churn/input/",
                       output_prefix="batch/churn/output/", kms_key=store.key,
                       schedule_expression="cron(0 2 * * ? *)", timezone="Europe/Paris",
                       topic=topic, topic_key=store.key,
                       monitoring=BatchMonitoring(baseline_bucket=build_bucket,
                                                  baseline_prefix="pipelines/churn/"))
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: BatchModel,
        pipeline_name: str,
        data_bucket: s3.IBucket,
        input_prefix: str,
        output_prefix: str,
        kms_key: kms.IKey,
        schedule_expression: str,
        timezone: str = "UTC",
        enabled: bool = True,
        content_type: str = "text/csv",
        split_type: Literal["None", "Line", "RecordIO", "TFRecord"] = "Line",
        batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord",
        accept: str | None = None,
        assemble_with: Literal["None", "Line"] = "Line",
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        max_payload_in_mb: int = 6,
        max_concurrent_transforms: int | None = None,
        monitoring: BatchMonitoring | None = None,
        topic: sns.ITopic | None = None,
        topic_key: kms.IKey | None = None,
    ) -> None:
        """Create the pipeline, the schedule, and (when asked) notifications and monitoring.

        :param model: the model to score with (a `RegisteredModel`), with network
            isolation on. Required.
        :param pipeline_name: name of the scoring pipeline (1-256 letters, digits and
            hyphens). Required.
        :param data_bucket: bucket holding the input and receiving the output. Required.
        :param input_prefix: key prefix (folder, ending with '/') of the files to score.
            Required.
        :param output_prefix: key prefix (folder, ending with '/') for predictions,
            captured data and monitoring reports; not inside `input_prefix` nor
            containing it. Required.
        :param kms_key: encrypts the transform volume, output and capture, and the
            monitoring volume and reports. Required.
        :param schedule_expression: Scheduler `cron(...)`, `rate(...)` or `at(...)`.
            Required.
        :param timezone: IANA time zone of the expression. Default UTC.
        :param enabled: whether the schedule runs. Default True.
        :param content_type: MIME type of the input files. Default text/csv; with
            `monitoring`, one of text/csv, application/json, application/jsonlines,
            application/x-parquet.
        :param split_type: how input files are split into records: None, Line, RecordIO
            or TFRecord. Default Line.
        :param batch_strategy: MultiRecord (default) or SingleRecord per request.
        :param accept: MIME type of the output. Default: `content_type`.
        :param assemble_with: None or Line (default): how output records are joined.
        :param instance_type: transform instance type. Default ml.m5.large (instance
            types with NVMe storage reject a volume key).
        :param instance_count: 1 up. Default 1.
        :param max_payload_in_mb: 0 to 100 MB per request. Default 6.
        :param max_concurrent_transforms: parallel requests per instance, 0 up. Default:
            SageMaker's choice.
        :param monitoring: a `BatchMonitoring` to check captured data against the
            package's baseline. Default none: nothing is captured or monitored.
        :param topic: where failed executions are announced. Default none.
        :param topic_key: the topic's KMS key; required with `topic` and only with it.
        """
        check = Checks("BatchInference")
        for member in ("model_name", "model_package_arn", "role", "network_isolation"):
            if not check.has("model", model, member, "a BatchModel such as RegisteredModel"):
                break
        else:
            if model.network_isolation is not True:
                check.fail(
                    "model",
                    Shown("a model with network_isolation False"),
                    "a model with network isolation on (the transform container must not"
                    " reach the network)",
                )
        check.text("pipeline_name", pipeline_name, _NAME, "1-256 letters, digits and hyphens")
        check.has("data_bucket", data_bucket, "bucket_name", "an s3.IBucket")
        inputs_ok = check.key_prefix("input_prefix", input_prefix)
        outputs_ok = check.key_prefix("output_prefix", output_prefix)
        if (
            inputs_ok
            and outputs_ok
            and (output_prefix.startswith(input_prefix) or input_prefix.startswith(output_prefix))
        ):
            check.fail(
                "output_prefix",
                output_prefix,
                f"a prefix neither inside nor containing input_prefix {input_prefix!r} (the"
                " next run would score the previous run's output)",
            )
        check.has("kms_key", kms_key, "key_arn", "a kms.IKey")
        check.text("schedule_expression", schedule_expression, _SCHEDULE, _SCHEDULE_ALLOWED)
        _check_timezone(check, timezone)
        check.instance("enabled", enabled, bool, "True or False")
        allowed_types = "a MIME type such as text/csv"
        if monitoring is not None:
            allowed_types = f"one of {', '.join(DATASET_FORMATS)} (what Model Monitor reads)"
        if check.text("content_type", content_type, _CONTENT_TYPE, allowed_types) and (
            monitoring is not None and content_type not in DATASET_FORMATS
        ):
            check.fail("content_type", content_type, allowed_types)
        check.one_of("split_type", split_type, ["None", "Line", "RecordIO", "TFRecord"])
        check.one_of("batch_strategy", batch_strategy, ["MultiRecord", "SingleRecord"])
        if accept is not None:
            check.text("accept", accept, _CONTENT_TYPE, "a MIME type such as text/csv, or None")
        check.one_of("assemble_with", assemble_with, ["None", "Line"])
        check.text("instance_type", instance_type, _INSTANCE_TYPE, "ml.<family>.<size>")
        check.integer("instance_count", instance_count, 1)
        check.integer("max_payload_in_mb", max_payload_in_mb, 0, MAX_PAYLOAD_MB)
        if max_concurrent_transforms is not None:
            check.integer("max_concurrent_transforms", max_concurrent_transforms, 0)
        if monitoring is not None:
            check.instance("monitoring", monitoring, BatchMonitoring, "a BatchMonitoring or None")
        if topic is not None:
            check.has("topic", topic, "topic_arn", "an sns.ITopic or None")
        if (topic is None) != (topic_key is None):
            check.fail(
                "topic_key",
                typed(topic_key, with_value=False) if topic_key is not None else None,
                "the topic's key, given with topic and only with it",
            )
        elif topic_key is not None:
            check.has("topic_key", topic_key, "key_arn", "a kms.IKey")
        check.done()
        super().__init__(scope, construct_id)
        self.model = model
        self._topic = topic
        self.input_prefix = input_prefix
        self.output_prefix = output_prefix
        self.capture_prefix: str | None = f"{output_prefix}{_CAPTURE}" if monitoring else None
        """Where the transform captures data (with monitoring), else None."""

        self.definition = _definition(
            model_name=model.model_name,
            input_prefix=input_prefix,
            output_prefix=output_prefix,
            capture_prefix=self.capture_prefix,
            content_type=content_type,
            split_type=split_type,
            batch_strategy=batch_strategy,
            accept=accept or content_type,
            assemble_with=assemble_with,
            instance_type=instance_type,
            instance_count=instance_count,
            max_payload_in_mb=max_payload_in_mb,
            max_concurrent_transforms=max_concurrent_transforms,
        )
        """The pipeline definition, placeholders still in it."""
        self.pipeline = SageMakerPipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_name,
            definition=self.definition,
            artifact_bucket=data_bucket,
            kms_key=kms_key,
            artifact_prefix=output_prefix,
            data_read_prefixes=[input_prefix],
            description=f"Scores s3://.../{input_prefix} with model {model.model_name}",
        )
        """The scoring pipeline."""
        self._grant_model(data_bucket, kms_key)

        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", kms_key)
        """Start requests the scheduler could not deliver."""
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=scheduler_principal(self),
            description=f"Starts batch pipeline {pipeline_name} on its schedule",
        )
        """The role the scheduler assumes; it may only start this pipeline."""
        self.pipeline.grant_start_execution(self.schedule_role)
        self.dead_letter_queue.grant_send_messages(self.schedule_role)
        acknowledge(
            self.schedule_role,
            {
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Sending to the encrypted"
                " dead-letter queue needs data keys of its one key.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the queue's key only.",
                **_inline_policy_findings("start one pipeline, send to one queue"),
            },
        )
        self.resource = scheduler.CfnSchedule(
            self,
            "Resource",
            description=f"Batch scoring with pipeline {pipeline_name}",
            schedule_expression=schedule_expression,
            schedule_expression_timezone=timezone,
            state="ENABLED" if enabled else "DISABLED",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.pipeline.pipeline_arn,
                role_arn=self.schedule_role.role_arn,
                sage_maker_pipeline_parameters=scheduler.CfnSchedule.SageMakerPipelineParametersProperty(),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=10,
                    maximum_event_age_in_seconds=int(Duration.hours(6).to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letter_queue.queue_arn
                ),
            ),
        )
        """The `AWS::Scheduler::Schedule` (`node.default_child`)."""
        self.resource.node.add_dependency(self.pipeline.resource)

        self.notifications: PipelineNotifications | None = None
        """The failure notifications (with `topic`)."""
        if topic is not None and topic_key is not None:
            self.notifications = PipelineNotifications(
                self,
                "Failures",
                pipeline=self.pipeline,
                topic=topic,
                topic_key=topic_key,
                statuses=("Failed",),
            )

        self.monitoring_schedule: sagemaker.CfnMonitoringSchedule | None = None
        """The Model Monitor schedule (with `monitoring`)."""
        self.monitoring_schedule_name: str | None = None
        self.job_definition: sagemaker.CfnDataQualityJobDefinition | None = None
        """The `AWS::SageMaker::DataQualityJobDefinition` (with `monitoring`)."""
        if monitoring is not None and self.capture_prefix is not None:
            self._monitor(monitoring, data_bucket, kms_key, content_type, pipeline_name)

    # -- the model's role ----------------------------------------------------------------

    def _grant_model(self, bucket: s3.IBucket, key: kms.IKey) -> None:
        """The transform job runs as the model's role: input, output, key and logs."""
        role = self.model.role
        inputs = f"{self.input_prefix}*"
        outputs = f"{self.output_prefix}*"
        bucket.grant_read(role, inputs)
        bucket.grant_put(role, outputs)
        key.grant_encrypt_decrypt(role)
        allow_volume_encryption(key, role)
        logs = allow_sagemaker_logs(role, "/aws/sagemaker/TransformJobs*")
        findings: dict[str | Finding, str] = {k: v for k, v in READ_GRANT_FINDINGS.items()}
        findings.update(
            {
                wildcard_resource(self, bucket.arn_for_objects(inputs)): "Batch scoring"
                " reads every file under the input prefix.",
                wildcard_resource(self, bucket.arn_for_objects(outputs)): "Each run writes"
                " predictions under a new execution id, and captured data per hour.",
                wildcard_resource(self, logs): "Transform jobs log to"
                " /aws/sagemaker/TransformJobs, one stream per instance.",
                "AwsSolutions-IAM5[Action::s3:Abort*]": "grant_put: aborting multipart"
                " uploads of large prediction files, on the output prefix only.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Encrypting predictions,"
                " captured data and the transform volume with the key.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "grant_encrypt_decrypt on the"
                " one key.",
            }
        )
        acknowledge(role, findings)

    # -- monitoring ----------------------------------------------------------------------

    def _monitor(
        self,
        monitoring: BatchMonitoring,
        bucket: s3.IBucket,
        key: kms.IKey,
        content_type: str,
        pipeline_name: str,
    ) -> None:
        stack = Stack.of(self)
        package = self.model.model_package_arn
        assert self.capture_prefix is not None
        self.baseline = cr.AwsCustomResource(
            self,
            "Baseline",
            on_update=cr.AwsSdkCall(
                service="SageMaker",
                action="describeModelPackage",
                parameters={"ModelPackageName": package},
                physical_resource_id=cr.PhysicalResourceId.of(package),
                output_paths=list(BASELINE_FIELDS.values()),
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[package]),
            install_latest_aws_sdk=False,
        )
        """Reads the package's data-quality baseline URIs at deploy time."""
        _acknowledge_sdk_provider(self.baseline)
        self.monitoring_role = iam.Role(
            self,
            "MonitoringRole",
            assumed_by=sagemaker_principal(self),
            description=f"Runs data-quality monitoring for batch pipeline {pipeline_name}",
        )
        """The monitoring job's role."""
        role = self.monitoring_role
        captured = f"{self.capture_prefix}*"
        reports_prefix = f"{self.output_prefix}{_REPORTS}"
        reports = f"{reports_prefix}*"
        baselines = f"{monitoring.baseline_prefix}*"
        bucket.grant_read(role, captured)
        bucket.grant_read_write(role, reports)
        monitoring.baseline_bucket.grant_read(role, baselines)
        key.grant_encrypt_decrypt(role)
        allow_volume_encryption(key, role)
        logs = allow_sagemaker_logs(role, "/aws/sagemaker/ProcessingJobs*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            )
        )
        findings: dict[str | Finding, str] = {k: v for k, v in READ_GRANT_FINDINGS.items()}
        findings.update(
            {
                "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "grant_read_write on the report"
                " prefix only: a re-run replaces its own report.",
                "AwsSolutions-IAM5[Action::s3:Abort*]": "grant_read_write on the report prefix.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Encrypting reports and the"
                " job volume with the key.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "grant_encrypt_decrypt on the one key.",
                "AwsSolutions-IAM5[Resource::*]": "cloudwatch:PutMetricData has no resource-level"
                " permissions; the statement is limited to the batch data-metrics namespace.",
                wildcard_resource(self, bucket.arn_for_objects(captured)): "Captured records are"
                " written per hour under the capture prefix.",
                wildcard_resource(self, bucket.arn_for_objects(reports)): "Each monitoring run"
                " writes its report under a new key.",
                wildcard_resource(
                    self, monitoring.baseline_bucket.arn_for_objects(baselines)
                ): "Baselines are written per pipeline execution under the pipeline's prefix.",
                wildcard_resource(self, logs): "Monitoring jobs log to"
                " /aws/sagemaker/ProcessingJobs, one stream per job.",
                **imported_key_findings(self, monitoring.baseline_bucket),
                **_inline_policy_findings(
                    "read the capture and the baseline, write reports, use one key, put metrics"
                ),
            }
        )
        vpc = monitoring.vpc
        if vpc is not None:
            network = allow_network_interfaces(self, role, vpc.subnet_ids, vpc.security_group_ids)
            for finding, reason in network.items():
                findings[finding] = (
                    f"{findings[finding]} {reason}" if finding in findings else reason
                )
        acknowledge(role, findings)

        dataset_format = _dataset_format(content_type, monitoring.csv_header)
        job: dict[str, Any] = dict(
            role_arn=role.role_arn,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=model_monitor_image(stack.region),
                environment={"publish_cloudwatch_metrics": "Enabled"},
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=self.baseline.get_response_field(BASELINE_FIELDS["constraints"])
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=self.baseline.get_response_field(BASELINE_FIELDS["statistics"])
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                batch_transform_input=sagemaker.CfnDataQualityJobDefinition.BatchTransformInputProperty(
                    data_captured_destination_s3_uri=(
                        f"s3://{bucket.bucket_name}/{self.capture_prefix.rstrip('/')}"
                    ),
                    dataset_format=dataset_format,
                    local_path="/opt/ml/processing/input/batch",
                    s3_input_mode="File",
                    s3_data_distribution_type="FullyReplicated",
                )
            ),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=key.key_arn,
                monitoring_outputs=[
                    sagemaker.CfnDataQualityJobDefinition.MonitoringOutputProperty(
                        s3_output=sagemaker.CfnDataQualityJobDefinition.S3OutputProperty(
                            s3_uri=f"s3://{bucket.bucket_name}/{reports_prefix.rstrip('/')}",
                            local_path="/opt/ml/processing/output",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=sagemaker.CfnDataQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnDataQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=monitoring.instance_type,
                    volume_size_in_gb=monitoring.volume_size_in_gb,
                    volume_kms_key_id=key.key_arn,
                )
            ),
            network_config=sagemaker.CfnDataQualityJobDefinition.NetworkConfigProperty(
                enable_network_isolation=True,
                enable_inter_container_traffic_encryption=True,
                vpc_config=(
                    sagemaker.CfnDataQualityJobDefinition.VpcConfigProperty(
                        subnets=list(vpc.subnet_ids),
                        security_group_ids=list(vpc.security_group_ids),
                    )
                    if vpc
                    else None
                ),
            ),
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=int(monitoring.max_runtime.to_seconds())
            ),
        )
        # Every change replaces a job definition: its name changes with its content and
        # with the package (whose baseline URIs are known only at deploy time).
        digest = hashlib.sha256(json.dumps(stack.resolve(job), sort_keys=True).encode())
        digest.update(package.encode())
        name = f"{pipeline_name[:40]}-dq-{digest.hexdigest()[:12]}"
        self.job_definition = sagemaker.CfnDataQualityJobDefinition(
            self, "JobDefinition", job_definition_name=name, **job
        )
        self.job_definition.node.add_dependency(role)
        self.monitoring_schedule_name = f"{pipeline_name[:50]}-data-quality"
        self.monitoring_schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "MonitoringSchedule",
            monitoring_schedule_name=self.monitoring_schedule_name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=monitoring.schedule_expression
                ),
            ),
        )
        self.monitoring_schedule.node.add_dependency(self.job_definition)

    # -- metrics -------------------------------------------------------------------------

    def metric_runs(
        self, metric_name: str = "ExecutionFailed", **options: Any
    ) -> cloudwatch.Metric:
        """A metric of the scoring pipeline's runs (namespace `RUNS_NAMESPACE`, dimension
        `PipelineName`): `ExecutionStarted`, `ExecutionSucceeded`, `ExecutionFailed`,
        `ExecutionStopped` (counts) or `ExecutionDuration` (milliseconds).

        Defaults: Sum per day (Average for the duration). `options` takes any
        `cloudwatch.MetricOptions` field and overrides the defaults.
        """
        check = Checks("BatchInference.metric_runs")
        check.one_of("metric_name", metric_name, RUN_METRICS)
        check.done()
        defaults: dict[str, Any] = {
            "statistic": "Average" if metric_name == "ExecutionDuration" else "Sum",
            "period": Duration.days(1),
        }
        return cloudwatch.Metric(
            namespace=RUNS_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"PipelineName": self.pipeline.pipeline_name},
            **{**defaults, **options},
        )

    def metric(self, metric_name: str, **options: Any) -> cloudwatch.Metric:
        """A batch data-quality metric of the monitoring schedule (namespace
        `aws/sagemaker/ModelMonitoring/data-metrics`, dimension `MonitoringSchedule`).

        Defaults: Maximum per hour. `options` takes any `cloudwatch.MetricOptions` field
        and overrides the defaults. Requires `monitoring`.
        """
        check = Checks("BatchInference.metric")
        if self.monitoring_schedule_name is None:
            check.fail("monitoring", None, "a BatchMonitoring (this construct has no monitor)")
        check.done()
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=metric_name,
            **{
                "dimensions_map": {"MonitoringSchedule": self.monitoring_schedule_name},
                "statistic": "Maximum",
                "period": Duration.hours(1),
                **options,
            },
        )

    def metric_feature_drift(self, feature: str, **options: Any) -> cloudwatch.Metric:
        """Distance between `feature`'s scored and baseline distributions (Maximum per hour)."""
        check = Checks("BatchInference.metric_feature_drift")
        check.text(
            "feature",
            feature,
            _FEATURE,
            f"a {_FEATURE_RULE}",
        )
        check.done()
        return self.metric(f"feature_baseline_drift_{feature}", **options)

    def drift_alarms(self, features: Sequence[str], threshold: float) -> list[cloudwatch.Alarm]:
        """One alarm per feature whose drift exceeds `threshold` (above 0, up to 1); give
        them to a `RetrainingTrigger` to close the loop."""
        check = Checks("BatchInference.drift_alarms")
        check.strings(
            "features",
            features,
            _FEATURE,
            _FEATURE_RULE,
        )
        check.number("threshold", threshold, 0, 1, low_open=True)
        check.done()
        alarms = [
            self.metric_feature_drift(feature).create_alarm(
                self,
                f"Drift-{feature}",
                alarm_description=f"{feature} of batch-scored records drifted from its"
                f" training baseline ({self.pipeline.pipeline_name})",
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for feature in features
        ]
        for alarm in alarms:
            if self._topic is not None:
                alarm.add_alarm_action(actions.SnsAction(self._topic))
            else:
                acknowledge(
                    alarm,
                    {
                        f"{pack}-CloudWatchAlarmAction": "No topic was given: the alarm is for"
                        " a RetrainingTrigger (EventBridge) and dashboards."
                        for pack in ("NIST.800.53.R5", "HIPAA.Security")
                    },
                )
        return alarms


def _dataset_format(
    content_type: str, csv_header: bool
) -> sagemaker.CfnDataQualityJobDefinition.DatasetFormatProperty:
    """`DATASET_FORMATS[content_type]` as the CloudFormation property."""
    job = sagemaker.CfnDataQualityJobDefinition
    shape = DATASET_FORMATS[content_type]
    if "Csv" in shape:
        return job.DatasetFormatProperty(csv=job.CsvProperty(header=csv_header))
    if "Json" in shape:
        return job.DatasetFormatProperty(json=job.JsonProperty(line=shape["Json"]["Line"]))
    return job.DatasetFormatProperty(parquet=True)


def _acknowledge_sdk_provider(resource: cr.AwsCustomResource) -> None:
    """Findings of CDK's AwsCustomResource provider (one function per stack, run by
    CloudFormation during deployments only) and of the resource's own policy."""
    stack = Stack.of(resource)
    acknowledge(
        stack,
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]": "CDK's AwsCustomResource provider logs with the"
            " AWS basic execution policy; its data access is one DescribeModelPackage call.",
            "AwsSolutions-L1": "The AwsCustomResource provider's runtime is chosen by"
            " aws-cdk-lib and upgraded with it.",
        },
    )
    acknowledge(
        resource,
        {
            f"{pack}-IAMNoInlinePolicy": "The custom resource's own policy allows one"
            " DescribeModelPackage call on one package ARN."
            for pack in ("NIST.800.53.R5", "HIPAA.Security")
        },
    )
    provider = stack.node.try_find_child(_SDK_PROVIDER_ID)
    if provider is None:
        return
    findings: dict[str | Finding, str] = {
        "Serverless-LambdaDefaultMemorySize": "aws-cdk-lib sizes its AwsCustomResource"
        " provider; it makes one SDK call per deployment.",
        "Serverless-LambdaTracing": "The provider runs only inside CloudFormation deployments,"
        " which record each call's outcome on the stack.",
        "Serverless-LambdaDLQ": "CloudFormation invokes the provider and reports a failure on"
        " the stack; there is no asynchronous event to keep.",
    }
    for pack in ("NIST.800.53.R5", "HIPAA.Security"):
        findings |= {
            f"{pack}-LambdaConcurrency": "The provider runs only when CloudFormation deploys"
            " the stack, one call per custom resource.",
            f"{pack}-LambdaDLQ": "CloudFormation invokes the provider and reports a failure"
            " on the stack; there is no asynchronous event to keep.",
            f"{pack}-LambdaInsideVPC": "The provider calls only the SageMaker API"
            " (DescribeModelPackage) and reads no data.",
            f"{pack}-CloudWatchLogGroupEncrypted": "aws-cdk-lib creates the provider's log"
            " group; it holds the SDK call and its response (baseline URIs), no data.",
        }
    acknowledge(provider, findings)


def _definition(
    *,
    model_name: str,
    input_prefix: str,
    output_prefix: str,
    capture_prefix: str | None,
    content_type: str,
    split_type: str,
    batch_strategy: str,
    accept: str,
    assemble_with: str,
    instance_type: str,
    instance_count: int,
    max_payload_in_mb: int,
    max_concurrent_transforms: int | None,
) -> dict[str, Any]:
    """The one-step pipeline: a Transform step shaped like CreateTransformJob (minus the
    job name, which Pipelines generates per execution)."""
    bucket = f"s3://{placeholders.BUCKET_NAME}/"
    arguments: dict[str, Any] = {
        "ModelName": model_name,
        "BatchStrategy": batch_strategy,
        "MaxPayloadInMB": max_payload_in_mb,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": bucket + input_prefix}
            },
            "ContentType": content_type,
            "SplitType": split_type,
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": {
                "Std:Join": {
                    "On": "/",
                    "Values": [
                        bucket + output_prefix + _PREDICTIONS,
                        {"Get": "Execution.PipelineExecutionId"},
                    ],
                }
            },
            "Accept": accept,
            "AssembleWith": assemble_with,
            "KmsKeyId": placeholders.KMS_KEY_ARN,
        },
        "TransformResources": {
            "InstanceType": instance_type,
            "InstanceCount": instance_count,
            "VolumeKmsKeyId": placeholders.KMS_KEY_ARN,
        },
    }
    if max_concurrent_transforms is not None:
        arguments["MaxConcurrentTransforms"] = max_concurrent_transforms
    if capture_prefix is not None:
        arguments["DataCaptureConfig"] = {
            "DestinationS3Uri": bucket + capture_prefix.rstrip("/"),
            "KmsKeyId": placeholders.KMS_KEY_ARN,
            "GenerateInferenceId": True,
        }
    return {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [{"Name": "Score", "Type": "Transform", "Arguments": arguments}],
    }


def _check_timezone(check: Checks, timezone: Any) -> None:
    allowed = "an IANA time zone such as UTC or Europe/Paris"
    if not check.text("timezone", timezone, allowed=allowed):
        return
    known = zoneinfo.available_timezones()
    if known and timezone not in known:
        check.fail("timezone", timezone, allowed)


def _inline_policy_findings(grants: str) -> dict[str | Finding, str]:
    reason = f"The role's own policy holds only its grants ({grants}); no other principal uses it."
    return {f"{pack}-IAMNoInlinePolicy": reason for pack in ("NIST.800.53.R5", "HIPAA.Security")}
