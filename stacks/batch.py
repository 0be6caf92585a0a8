"""A model batch stack: one model scored in batch on a schedule in one environment."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from config.settings import (
    BatchMonitoringSettings,
    BatchSettings,
    BuildSettings,
    ModelSettings,
    VpcSettings,
)
from constructs_lib.batch_inference import BatchInference, BatchMonitoring
from constructs_lib.model_registry import ModelRegistry
from constructs_lib.notification_topic import NotificationTopic
from constructs_lib.registered_model import RegisteredModel
from constructs_lib.vpc_config import VpcConfig
from stacks.build import imported_build_artifacts
from stacks.deploy import settings_errors
from stacks.environment import EnvironmentStack


class ModelBatchStack(Stack):
    """`mlops-<model>-batch-<environment>`: the pinned version scores files on a schedule.

    A stack of its own beside the model's endpoint stack (`mlops-<model>-<environment>`,
    if the model has an endpoint there): a model may be scored in batch only, and a
    change to the schedule never touches the endpoint. Its id ends with the environment,
    so `mlops-*-<environment>` (the deploy workflow, `cdk deploy`) takes it too.

    The version comes from `config/promotion.yaml`, as for the endpoint. Files under
    `batch.input_prefix` of the environment's artifact store are scored into
    `<output_prefix>predictions/<execution id>/`, encrypted with the store's key; failed
    runs and drift alarms notify the stack's topic (with its own messaging key). The model
    and the monitoring jobs run in the environment's `vpc`, if any.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelSettings,
        batch: BatchSettings,
        version: int,
        environment: EnvironmentStack,
        build: BuildSettings,
        pipeline_prefix: str,
        image_repository_arns: list[str],
        file: str,
        environment_vpc: VpcSettings | None = None,
    ) -> None:
        name = environment.environment_name
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=environment.account, region=environment.region),
            description=f"SageMaker MLOps {name}: model {model.name} v{version} scored in"
            " batch on a schedule, with monitoring",
        )
        key = f"environments.{name}.batch"
        self.artifacts = environment.artifacts
        registry = ModelRegistry.from_model_package_group_name(
            self, "Registry", model.group, account=build.account, region=build.region
        )
        self.model_package_arn = registry.package_arn(version)
        """The pinned package version scored here."""
        build_bucket = imported_build_artifacts(self, build)
        # VpcSettings are checked as VpcConfig checks them when the settings load.
        self.vpc = (
            VpcConfig(
                subnets=environment_vpc.subnet_ids,
                security_groups=environment_vpc.security_group_ids,
            )
            if environment_vpc
            else None
        )
        """Where the transform and monitoring jobs run (None: outside any VPC)."""
        with settings_errors(file, key):
            self.model = RegisteredModel(
                self,
                "Model",
                model_package_arn=self.model_package_arn,
                artifact_bucket=build_bucket,
                artifact_prefix=pipeline_prefix,
                image_repository_arns=image_repository_arns,
                network_isolation=True,
                vpc=self.vpc,
            )
        self.topic = NotificationTopic(
            self,
            "Notifications",
            display_name=f"Batch scoring of {model.name} in {name}",
            key=environment.messaging_key,
        )
        """Failed runs and drift alarms (the environment's messaging key)."""
        m = batch.monitoring
        with settings_errors(file, key + ".monitoring"):
            monitoring = (
                BatchMonitoring(
                    baseline_bucket=build_bucket,
                    baseline_prefix=pipeline_prefix,
                    schedule_expression=m.schedule_expression,
                    instance_type=m.instance_type,
                    max_runtime=Duration.seconds(m.max_runtime),
                    vpc=self.vpc,
                )
                if m
                else None
            )
        with settings_errors(file, key):
            self.batch = BatchInference(
                self,
                "Batch",
                model=self.model,
                pipeline_name=f"{model.name}-{name}-batch",
                data_bucket=self.artifacts.bucket,
                input_prefix=batch.input_prefix,
                output_prefix=batch.output_prefix,
                kms_key=self.artifacts.key,
                schedule_expression=batch.schedule_expression,
                timezone=batch.timezone,
                enabled=batch.enabled,
                content_type=batch.content_type,
                split_type=batch.split_type,
                instance_type=batch.instance_type,
                instance_count=batch.instance_count,
                monitoring=monitoring,
                topic=self.topic.topic,
                topic_key=self.topic.key,
            )
            """The scoring pipeline, its schedule, notifications and monitor."""
        self.drift_alarms: list[cloudwatch.Alarm] = []
        """One alarm per `batch.monitoring.drift_features`, notifying the topic."""
        if m is not None and m.drift_features:
            with settings_errors(file, key + ".monitoring"):
                self.drift_alarms = self.batch.drift_alarms(m.drift_features, m.drift_threshold)
        self.dashboard = self._dashboard(f"{model.name}-{name}-batch", m)
        """Runs, failures, duration, drift violations and drift metrics of the scoring."""
        CfnOutput(self, "ScoredModel", value=self.model_package_arn)
        CfnOutput(self, "PipelineName", value=self.batch.pipeline.pipeline_name)
        CfnOutput(self, "InputUri", value=self.artifacts.s3_uri(batch.input_prefix))
        CfnOutput(self, "PredictionsUri", value=self.artifacts.s3_uri(batch.output_prefix))
        CfnOutput(self, "NotificationTopicArn", value=self.topic.topic_arn)

    def _dashboard(
        self, name: str, monitoring: BatchMonitoringSettings | None
    ) -> cloudwatch.Dashboard:
        """One dashboard per model and environment scored in batch: the runs (started,
        succeeded, failed), how long they take and, with monitoring, the drift alarms'
        states and the drift of each watched feature."""
        runs = self.batch
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Batch runs per day",
                left=[
                    runs.metric_runs(metric)
                    for metric in ("ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed")
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Run duration (ms)", left=[runs.metric_runs("ExecutionDuration")], width=12
            ),
        ]
        if monitoring is not None and self.drift_alarms:
            widgets += [
                cloudwatch.AlarmStatusWidget(
                    title="Data quality: violations", alarms=self.drift_alarms, width=12
                ),
                cloudwatch.GraphWidget(
                    title="Feature drift",
                    left=[runs.metric_feature_drift(f) for f in monitoring.drift_features],
                    width=12,
                ),
            ]
        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=name, default_interval=Duration.days(7)
        )
        dashboard.add_widgets(*widgets)
        return dashboard
