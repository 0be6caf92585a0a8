"""`DataQualityMonitor`: a Model Monitor data-quality schedule for one endpoint."""

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

from constructs_lib._logs import allow_sagemaker_logs
from constructs_lib._nag import (
    READ_GRANT_FINDINGS,
    acknowledge,
    imported_key_findings,
    wildcard_resource,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.images import model_monitor_image
from constructs_lib.realtime_endpoint import RealtimeEndpoint

METRIC_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
BASELINE_FIELDS = {
    "statistics": "ModelMetrics.ModelDataQuality.Statistics.S3Uri",
    "constraints": "ModelMetrics.ModelDataQuality.Constraints.S3Uri",
}
"""Where a registered package records its data-quality baseline (DescribeModelPackage)."""
_SCHEDULE = re.compile(r"^cron\(.+\)$")
_FEATURE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class DataQualityMonitor(Construct):
    """Compare an endpoint's captured traffic with the training data's baseline.

    Creates an `AWS::SageMaker::DataQualityJobDefinition` and a `MonitoringSchedule`.
    The baseline (statistics and constraints written by the build pipeline) is read
    from the served model package at deploy time by a custom resource calling
    `DescribeModelPackage` on that one package ARN: no lookup at synth, and a new pin
    brings its own baseline. Reports go to `output_bucket`; per-feature drift metrics go
    to CloudWatch (`metric_feature_drift`).

    Example::

        monitor = DataQualityMonitor(stack, "Monitor", endpoint=endpoint,
            model_package_arn=registry.package_arn(7), baseline_bucket=build_bucket,
            baseline_prefix="pipelines/churn/", output_bucket=bucket,
            output_prefix="monitoring/churn-prod", schedule_expression="cron(0 * ? * * *)")
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
        capture_prefix: str,
        schedule_expression: str = "cron(0 * ? * * *)",
        instance_type: str = "ml.m5.large",
        volume_size_in_gb: int = 20,
        max_runtime: Duration | None = None,
        kms_key: kms.IKey | None = None,
        image_uri: str | None = None,
    ) -> None:
        """Create the job definition, the schedule, their role and the baseline lookup.

        :param endpoint: the endpoint to watch; its data capture must write to
            `output_bucket` under `capture_prefix`.
        :param model_package_arn: the package the endpoint serves; its
            `ModelMetrics.ModelDataQuality` names the baseline files.
        :param baseline_bucket: where those files live (the build account's artifact
            bucket); read access is limited to `baseline_prefix`.
        :param output_prefix: where reports go in `output_bucket`.
        :param capture_prefix: where the endpoint's captured data is, in `output_bucket`.
        :param schedule_expression: default hourly, `cron(0 * ? * * *)`.
        :param instance_type: default ml.m5.large.
        :param volume_size_in_gb: default 20; 1 to 16384.
        :param max_runtime: default 1 hour; 1 s to 1 hour for hourly schedules.
        :param kms_key: encrypts the job's volume and reports. Default none.
        :param image_uri: default: SageMaker's Model Monitor analyzer for the region.
        """
        super().__init__(scope, construct_id)
        if not _SCHEDULE.match(schedule_expression):
            raise ConfigurationError(
                f"monitoring.schedule_expression: got {schedule_expression!r}; expected a cron"
                " expression such as cron(0 * ? * * *) (hourly) or cron(0 0 ? * * *) (daily)"
            )
        if not 1 <= volume_size_in_gb <= 16384:
            raise ConfigurationError(
                f"monitoring.volume_size_in_gb: got {volume_size_in_gb}; allowed 1 to 16384"
            )
        runtime = max_runtime or Duration.hours(1)
        if not 1 <= runtime.to_seconds() <= 3600:
            raise ConfigurationError(
                f"monitoring.max_runtime: got {runtime.to_seconds():g} s; allowed 1 to 3600 s"
            )
        stack = Stack.of(self)
        self.endpoint = endpoint
        self.schedule_name = f"{endpoint.endpoint_name[:50]}-data-quality"

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
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs data-quality monitoring for endpoint {endpoint.endpoint_name}",
        )
        capture = f"{capture_prefix.strip('/')}/*"
        reports = f"{output_prefix.strip('/')}/*"
        baselines = f"{baseline_prefix.strip('/')}/*"
        output_bucket.grant_read(self.role, capture)
        output_bucket.grant_read_write(self.role, reports)
        baseline_bucket.grant_read(self.role, baselines)
        if kms_key is not None:
            kms_key.grant_encrypt_decrypt(self.role)
            kms_key.grant(self.role, "kms:CreateGrant", "kms:DescribeKey")
        logs = allow_sagemaker_logs(self.role, "/aws/sagemaker/ProcessingJobs*")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            )
        )
        acknowledge(
            self.role,
            {
                **READ_GRANT_FINDINGS,
                "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "grant_read_write on the report"
                " prefix only: a re-run replaces its own report.",
                "AwsSolutions-IAM5[Action::s3:Abort*]": "grant_read_write on the report prefix.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Encrypting reports and the"
                " job volume with the environment's key.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "grant_encrypt_decrypt on the"
                " environment's key only.",
                "AwsSolutions-IAM5[Resource::*]": "cloudwatch:PutMetricData has no resource-level"
                " permissions; the statement is limited to the data-metrics namespace.",
                wildcard_resource(self, output_bucket.arn_for_objects(capture)): "Captured"
                " requests are written per hour under the capture prefix.",
                wildcard_resource(self, output_bucket.arn_for_objects(reports)): "Each monitoring"
                " execution writes its report under a new key.",
                wildcard_resource(self, baseline_bucket.arn_for_objects(baselines)): "Baselines"
                " are written per pipeline execution under the pipeline's prefix.",
                wildcard_resource(self, logs): "Monitoring jobs log to"
                " /aws/sagemaker/ProcessingJobs, one stream per job.",
                **imported_key_findings(self, baseline_bucket),
            },
        )

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
                            s3_uri=f"s3://{output_bucket.bucket_name}/{output_prefix.strip('/')}",
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
                enable_network_isolation=True
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

    def metric_feature_drift(self, feature: str, **kwargs: Any) -> cloudwatch.Metric:
        """Distance between `feature`'s live and baseline distributions (Maximum per hour)."""
        if not _FEATURE.match(feature):
            raise ConfigurationError(
                f"monitoring feature: got {feature!r}; expected a column name of letters,"
                " digits, '_', '.' or '-'"
            )
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=f"feature_baseline_drift_{feature}",
            dimensions_map={
                "Endpoint": self.endpoint.endpoint_name,
                "MonitoringSchedule": self.schedule_name,
            },
            statistic=kwargs.pop("statistic", "Maximum"),
            period=kwargs.pop("period", Duration.hours(1)),
            **kwargs,
        )

    def drift_alarms(self, features: Sequence[str], threshold: float) -> list[cloudwatch.Alarm]:
        """One alarm per feature whose drift exceeds `threshold` (0 to 1)."""
        if not 0 < threshold <= 1:
            raise ConfigurationError(
                f"monitoring.drift_threshold: got {threshold}; allowed above 0 up to 1"
            )
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
