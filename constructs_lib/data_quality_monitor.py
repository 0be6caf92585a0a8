"""`DataQualityMonitor`: a Model Monitor data-quality schedule for one endpoint.

Limits checked here come from the SageMaker documentation:

- Model Monitor does not support serverless endpoints (Serverless Inference feature
  exclusions): https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html
- Schedules are hourly `cron(0 * ? * * *)`, daily `cron(0 H ? * * *)` or every N hours
  `cron(0 H/N ? * * *)`:
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-schedule-expression.html
- `MaxRuntimeInSeconds` is 1-86400 and cannot exceed the schedule's period (3600 s for
  an hourly data-quality schedule):
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_MonitoringStoppingCondition.html
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib._kms import allow_volume_encryption
from constructs_lib._logs import allow_sagemaker_logs, stack_log_group
from constructs_lib._nag import (
    READ_GRANT_FINDINGS,
    Finding,
    acknowledge,
    acknowledge_aws_custom_resource,
    acknowledge_inline_policy,
    imported_key_findings,
    wildcard_resource,
)
from constructs_lib._principals import sagemaker_principal
from constructs_lib._validate import Checks, Shown
from constructs_lib.images import model_monitor_image
from constructs_lib.realtime_endpoint import _INSTANCE_TYPE, DataCapture, RealtimeEndpoint
from constructs_lib.registered_model import _PACKAGE_ARN
from constructs_lib.vpc_config import VpcConfig, allow_network_interfaces

METRIC_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
BASELINE_FIELDS = {
    "statistics": "ModelMetrics.ModelDataQuality.Statistics.S3Uri",
    "constraints": "ModelMetrics.ModelDataQuality.Constraints.S3Uri",
}
"""Where a registered package records its data-quality baseline (DescribeModelPackage)."""
_SCHEDULE = re.compile(r"^cron\(0 (?:\*|(?P<hour>\d{1,2})(?:/(?P<every>\d{1,2}))?) \? \* \* \*\)$")
# Model Monitor names features after the baseline dataset's header, spaces included
# (scikit-learn's `mean radius`); CloudWatch metric names may hold them.
_FEATURE = re.compile(r"^[A-Za-z0-9_.-](?:[A-Za-z0-9_. -]{0,198}[A-Za-z0-9_.-])?$")
_FEATURE_RULE = "column name of letters, digits, '_', '.', '-' or inner spaces"
MAX_RUNTIME_SECONDS = 86400


def _short(name: str, length: int) -> str:
    """`name` if it fits in `length` characters, else its start and a hash of all of it,
    so two long names sharing their first characters still give different names."""
    if len(name) <= length:
        return name
    return f"{name[: length - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def schedule_period_seconds(schedule_expression: str) -> int | None:
    """Seconds between runs of a Model Monitor cron expression, or None if it is not
    one of the supported forms (hourly, daily, every N hours)."""
    match = _SCHEDULE.match(schedule_expression)
    if match is None:
        return None
    hour, every = match.group("hour"), match.group("every")
    if hour is None:
        return 3600
    if int(hour) > 23 or (every is not None and not 1 <= int(every) <= 24):
        return None
    return 3600 * int(every) if every is not None else 86400


class DataQualityMonitor(Construct):
    """Compare an endpoint's captured traffic with the training data's baseline.

    Creates an `AWS::SageMaker::DataQualityJobDefinition` and a `MonitoringSchedule`
    (the schedule is `node.default_child`). The captured data is read where the
    endpoint's `data_capture` writes it, so the two cannot disagree. The baseline
    (statistics and constraints written by the build pipeline) is read from the served
    model package at deploy time by a custom resource calling `DescribeModelPackage`
    on that one package ARN: no lookup at synth, and a new pin brings its own baseline.
    Reports go to `output_bucket`; per-feature drift metrics go to CloudWatch
    (`metric_feature_drift`).

    Example::

        monitor = DataQualityMonitor(stack, "Monitor", endpoint=endpoint,
            model_package_arn=registry.package_arn(7), baseline_bucket=build_bucket,
            baseline_prefix="pipelines/churn/", output_bucket=bucket,
            output_prefix="monitoring/churn-prod/", schedule_expression="cron(0 * ? * * *)")
        monitor.metric_feature_drift("age").create_alarm(...)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: RealtimeEndpoint,
        model_package_arn: str,
        baseline_bucket: s3.IBucket,
        baseline_prefix: str,
        output_bucket: s3.IBucket,
        output_prefix: str,
        schedule_expression: str = "cron(0 * ? * * *)",
        instance_type: str = "ml.m5.large",
        volume_size_in_gb: int = 20,
        max_runtime: Duration | None = None,
        kms_key: kms.IKey | None = None,
        image_uri: str | None = None,
        vpc: VpcConfig | None = None,
    ) -> None:
        """Create the job definition, the schedule, their role and the baseline lookup.

        :param endpoint: the endpoint to watch: an instance variant with `data_capture`
            (the job reads the captured data there). Required.
        :param model_package_arn: the package the endpoint serves; its
            `ModelMetrics.ModelDataQuality` names the baseline files. Required.
        :param baseline_bucket: where those files live (the build account's artifact
            bucket); read access is limited to `baseline_prefix`. Required.
        :param baseline_prefix: key prefix (folder, ending with '/') of the baselines.
            Required.
        :param output_bucket: where reports go. Required.
        :param output_prefix: key prefix (folder, ending with '/') of the reports in
            `output_bucket`. Required.
        :param schedule_expression: default hourly, `cron(0 * ? * * *)`; also daily
            `cron(0 H ? * * *)` or every N hours `cron(0 H/N ? * * *)`.
        :param instance_type: default ml.m5.large.
        :param volume_size_in_gb: default 20; 1 to 16384.
        :param max_runtime: default 1 hour; 1 s up to the schedule's period (at most
            24 hours).
        :param kms_key: encrypts the job's volume and reports. Default none.
        :param image_uri: the analyzer image; give a tag or `@sha256:` digest to pin one.
            Default: SageMaker's Model Monitor analyzer for the region, as AWS documents
            it (`constructs_lib.images.model_monitor_image`; AWS publishes no version tag).
        :param vpc: the subnets and security groups the monitoring jobs run in; the role
            then gets the network-interface permissions SageMaker documents, limited to
            them. Default: none (the job runs outside your VPC, network-isolated).

        The jobs always run with network isolation and inter-container traffic
        encryption.
        """
        super().__init__(scope, construct_id)
        runtime = max_runtime if max_runtime is not None else Duration.hours(1)
        capture = self._check(
            endpoint=endpoint,
            model_package_arn=model_package_arn,
            baseline_bucket=baseline_bucket,
            baseline_prefix=baseline_prefix,
            output_bucket=output_bucket,
            output_prefix=output_prefix,
            schedule_expression=schedule_expression,
            instance_type=instance_type,
            volume_size_in_gb=volume_size_in_gb,
            max_runtime=runtime,
            kms_key=kms_key,
            image_uri=image_uri,
            vpc=vpc,
        )
        stack = Stack.of(self)
        self.endpoint = endpoint
        self.schedule_name = f"{_short(endpoint.endpoint_name, 50)}-data-quality"

        self.baseline = cr.AwsCustomResource(
            self,
            "Baseline",
            on_update=cr.AwsSdkCall(
                service="SageMaker",
                action="describeModelPackage",
                parameters={"ModelPackageName": model_package_arn},
                physical_resource_id=cr.PhysicalResourceId.of(model_package_arn),
                output_paths=list(BASELINE_FIELDS.values()),
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[model_package_arn]),
            install_latest_aws_sdk=False,
            memory_size=256,
            log_group=stack_log_group(self, "CustomResourceLogs"),
        )
        acknowledge_aws_custom_resource(
            self.baseline, does="makes one SageMaker DescribeModelPackage call"
        )
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

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=sagemaker_principal(self),
            description=f"Runs data-quality monitoring for endpoint {endpoint.endpoint_name}",
        )
        captured = f"{capture.prefix}*"
        reports = f"{output_prefix}*"
        baselines = f"{baseline_prefix}*"
        capture.bucket.grant_read(self.role, captured)
        output_bucket.grant_read_write(self.role, reports)
        baseline_bucket.grant_read(self.role, baselines)
        if kms_key is not None:
            kms_key.grant_encrypt_decrypt(self.role)
            allow_volume_encryption(kms_key, self.role)
        if capture.kms_key is not None and capture.kms_key is not kms_key:
            capture.kms_key.grant_decrypt(self.role)
        logs = allow_sagemaker_logs(self.role, "/aws/sagemaker/ProcessingJobs*")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            )
        )
        findings: dict[str | Finding, str] = {
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "grant_read_write on the report"
            " prefix only: a re-run replaces its own report.",
            "AwsSolutions-IAM5[Action::s3:Abort*]": "grant_read_write on the report prefix.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Encrypting reports and the"
            " job volume with the environment's key.",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "grant_encrypt_decrypt on the"
            " environment's key only.",
            "AwsSolutions-IAM5[Resource::*]": "cloudwatch:PutMetricData has no resource-level"
            " permissions; the statement is limited to the data-metrics namespace.",
            wildcard_resource(self, capture.bucket.arn_for_objects(captured)): "Captured"
            " requests are written per hour under the capture prefix.",
            wildcard_resource(self, output_bucket.arn_for_objects(reports)): "Each monitoring"
            " execution writes its report under a new key.",
            wildcard_resource(self, baseline_bucket.arn_for_objects(baselines)): "Baselines"
            " are written per pipeline execution under the pipeline's prefix.",
            wildcard_resource(self, logs): "Monitoring jobs log to"
            " /aws/sagemaker/ProcessingJobs, one stream per job.",
            **imported_key_findings(self, baseline_bucket),
        }
        findings.update({k: v for k, v in READ_GRANT_FINDINGS.items()})
        if vpc is not None:
            network = allow_network_interfaces(
                self, self.role, vpc.subnet_ids, vpc.security_group_ids
            )
            for finding, reason in network.items():
                findings[finding] = (
                    f"{findings[finding]} {reason}" if finding in findings else reason
                )
        acknowledge(self.role, findings)
        acknowledge_inline_policy(self.role, "the monitoring jobs' execution role")

        volume_key = kms_key.key_arn if kms_key else None
        job: dict[str, Any] = dict(
            role_arn=self.role.role_arn,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=image_uri or model_monitor_image(stack.region),
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
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint.endpoint_name,
                    local_path="/opt/ml/processing/input/endpoint",
                    s3_input_mode="File",
                    s3_data_distribution_type="FullyReplicated",
                )
            ),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=volume_key,
                monitoring_outputs=[
                    sagemaker.CfnDataQualityJobDefinition.MonitoringOutputProperty(
                        s3_output=sagemaker.CfnDataQualityJobDefinition.S3OutputProperty(
                            s3_uri=f"s3://{output_bucket.bucket_name}/{output_prefix.rstrip('/')}",
                            local_path="/opt/ml/processing/output",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=sagemaker.CfnDataQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnDataQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=instance_type,
                    volume_size_in_gb=volume_size_in_gb,
                    volume_kms_key_id=volume_key,
                )
            ),
            network_config=sagemaker.CfnDataQualityJobDefinition.NetworkConfigProperty(
                enable_network_isolation=True,
                enable_inter_container_traffic_encryption=True,
                vpc_config=(
                    sagemaker.CfnDataQualityJobDefinition.VpcConfigProperty(
                        subnets=vpc.subnet_ids, security_group_ids=vpc.security_group_ids
                    )
                    if vpc
                    else None
                ),
            ),
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=int(runtime.to_seconds())
            ),
        )
        # Every property change replaces a job definition, so its name must change with
        # its content: a fixed name would collide with the one being replaced.
        # The baseline URIs are only known at deploy time, so the package they come from
        # is part of the content too: a new pin must bring a new job definition.
        digest = hashlib.sha256(json.dumps(stack.resolve(job), sort_keys=True).encode())
        digest.update(model_package_arn.encode())
        self.job_definition_name = f"{endpoint.endpoint_name[:40]}-dq-{digest.hexdigest()[:12]}"
        self.job_definition = sagemaker.CfnDataQualityJobDefinition(
            self, "JobDefinition", job_definition_name=self.job_definition_name, **job
        )
        self.job_definition.node.add_dependency(self.role)
        self.job_definition.node.add_dependency(endpoint.resource)
        self.resource = sagemaker.CfnMonitoringSchedule(
            self,
            "Resource",
            monitoring_schedule_name=self.schedule_name,
            endpoint_name=endpoint.endpoint_name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=self.job_definition_name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=schedule_expression
                ),
            ),
        )
        # SageMaker checks both exist when the schedule is created, and both must outlive it.
        self.resource.node.add_dependency(self.job_definition)
        self.resource.node.add_dependency(endpoint.resource)

    @staticmethod
    def _check(*, endpoint: Any, max_runtime: Any, **props: Any) -> DataCapture:
        """Every prop, then what SageMaker refuses of the endpoint and the schedule."""
        check = Checks("DataQualityMonitor")
        if check.instance("endpoint", endpoint, RealtimeEndpoint, "a RealtimeEndpoint"):
            if endpoint.serverless:
                check.fail(
                    "endpoint",
                    Shown(f"{endpoint.endpoint_name!r} with a ServerlessVariant"),
                    "an endpoint with an InstanceVariant (Model Monitor does not support"
                    " serverless endpoints)",
                )
            elif endpoint.data_capture is None:
                check.fail(
                    "endpoint",
                    Shown(f"{endpoint.endpoint_name!r} without data_capture"),
                    "an endpoint with data_capture (the job analyses the captured requests)",
                )
        check.text(
            "model_package_arn",
            props["model_package_arn"],
            _PACKAGE_ARN,
            "arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>",
        )
        for bucket in ("baseline_bucket", "output_bucket"):
            check.has(bucket, props[bucket], "bucket_name", "an s3.IBucket")
        check.key_prefix("baseline_prefix", props["baseline_prefix"])
        check.key_prefix("output_prefix", props["output_prefix"])
        schedule = props["schedule_expression"]
        period = schedule_period_seconds(schedule) if isinstance(schedule, str) else None
        if period is None:
            check.fail(
                "schedule_expression",
                schedule,
                "cron(0 * ? * * *) (hourly), cron(0 H ? * * *) (daily at hour H, 0-23) or"
                " cron(0 H/N ? * * *) (every N hours, 1-24)",
            )
        check.text("instance_type", props["instance_type"], _INSTANCE_TYPE, "ml.<family>.<size>")
        check.integer("volume_size_in_gb", props["volume_size_in_gb"], 1, 16384)
        check.duration(
            "max_runtime", max_runtime, 1, min(period or MAX_RUNTIME_SECONDS, MAX_RUNTIME_SECONDS)
        )
        if props["kms_key"] is not None:
            check.has("kms_key", props["kms_key"], "key_arn", "a kms.IKey or None")
        if props["image_uri"] is not None:
            check.text("image_uri", props["image_uri"])
        if props["vpc"] is not None:
            check.instance("vpc", props["vpc"], VpcConfig, "a VpcConfig or None")
        check.done()
        assert endpoint.data_capture is not None
        return endpoint.data_capture  # type: ignore[no-any-return]

    def metric(self, metric_name: str, **options: Any) -> cloudwatch.Metric:
        """A data-quality metric of this schedule (dimensions Endpoint, MonitoringSchedule).

        Defaults: Maximum per hour. `options` takes any `cloudwatch.MetricOptions` field
        (statistic, period, label, color, ...) and overrides the defaults.
        """
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=metric_name,
            **{
                "dimensions_map": {
                    "Endpoint": self.endpoint.endpoint_name,
                    "MonitoringSchedule": self.schedule_name,
                },
                "statistic": "Maximum",
                "period": Duration.hours(1),
                **options,
            },
        )

    def metric_feature_drift(self, feature: str, **options: Any) -> cloudwatch.Metric:
        """Distance between `feature`'s live and baseline distributions (Maximum per hour)."""
        check = Checks("DataQualityMonitor.metric_feature_drift")
        check.text(
            "feature",
            feature,
            _FEATURE,
            f"a {_FEATURE_RULE}",
        )
        check.done()
        return self.metric(f"feature_baseline_drift_{feature}", **options)

    def drift_alarms(self, features: Sequence[str], threshold: float) -> list[cloudwatch.Alarm]:
        """One alarm per feature whose drift exceeds `threshold` (above 0, up to 1)."""
        check = Checks("DataQualityMonitor.drift_alarms")
        check.strings(
            "features",
            features,
            _FEATURE,
            _FEATURE_RULE,
        )
        check.number("threshold", threshold, 0, 1, low_open=True)
        check.done()
        return [
            self.metric_feature_drift(feature).create_alarm(
                self,
                f"Drift-{feature}",
                alarm_description=f"{feature} drifted from its training baseline on"
                f" {self.endpoint.endpoint_name}",
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for feature in features
        ]
