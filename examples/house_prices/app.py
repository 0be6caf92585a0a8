#!/usr/bin/env python3
"""A CDK app for one regression model, built only from the installed `constructs_lib`.

Stacks (one account here; real setups often use one per environment):

- `house-prices-build`: artifact store, the hand-written pipeline, the model registry,
  approval (manual, judged on rmse and mae, lower is better), failure notifications,
  weekly retraining and GitHub deploy access.
- `house-prices-dev`: the pinned version on a serverless endpoint, with alarms.
- `house-prices-prod`: the pinned version on instances with a 10% canary, autoscaling,
  data capture, a data-quality monitor and alarms that roll a bad update back.

cdk-nag's AwsSolutions, NIST 800-53 R5, HIPAA Security and Serverless packs run on every
stack; this app acknowledges nothing itself.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App, Duration, Environment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks
from constructs import Construct
from definition import DATA_PREFIX, PIPELINE_NAME, pipeline_definition

from constructs_lib import (
    ArtifactStore,
    Autoscaling,
    DataCapture,
    DataQualityMonitor,
    EndpointAlarms,
    GitHubDeployAccess,
    InstanceVariant,
    MetricThreshold,
    ModelApproval,
    ModelRegistry,
    NotificationTopic,
    PipelineNotifications,
    RealtimeEndpoint,
    RegisteredModel,
    RetrainingSchedule,
    SageMakerPipeline,
    ServerlessVariant,
    TrafficShift,
)

HERE = Path(__file__).resolve().parent
ENV = Environment(account="123456789012", region="eu-west-1")
GROUP = "house-prices"
PINNED = {"dev": 3, "prod": 2}
"""The version each environment serves: promotion is a reviewed change of this line."""


class BuildStack(Stack):
    """Where house-price models are trained, registered and judged."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id, env=ENV)
        self.store = ArtifactStore(self, "Artifacts", removal_policy=RemovalPolicy.DESTROY)
        self.registry = ModelRegistry(self, "Registry", model_package_group_name=GROUP)
        self.pipeline = SageMakerPipeline(
            self,
            "Pipeline",
            pipeline_name=PIPELINE_NAME,
            definition=pipeline_definition(region=self.region, model_package_group_name=GROUP),
            artifact_bucket=self.store.bucket,
            kms_key=self.store.key,
            step_sources={
                "preprocess": HERE / "steps" / "preprocess.py",
                "evaluate": HERE / "steps" / "evaluate.py",
                "train": HERE / "steps" / "train",
            },
            data_read_prefixes=[DATA_PREFIX],
        )
        # Messages get their own key: the store's key is for stored data only.
        notifications = NotificationTopic(self, "Notifications", display_name="house-prices MLOps")
        topic, messaging_key = notifications.topic, notifications.key
        ModelApproval(
            self,
            "Approval",
            registry=self.registry,
            artifacts=self.store,
            evaluation_prefix=f"pipelines/{PIPELINE_NAME}/",
            topic=topic,
            key=messaging_key,
            policy="manual",
            problem_type="regression",
            thresholds=[
                MetricThreshold(metric="rmse", maximum=65.0),
                MetricThreshold(metric="mae", maximum=50.0),
            ],
            primary_metric="rmse",
        )
        PipelineNotifications(
            self, "Failures", pipeline=self.pipeline, topic=topic, topic_key=messaging_key
        )
        RetrainingSchedule(
            self,
            "Weekly",
            pipeline=self.pipeline,
            key=messaging_key,
            schedule_expression="cron(0 4 ? * SUN *)",
            parameters={"MaxRmse": "60"},
        )
        GitHubDeployAccess(
            self,
            "GitHub",
            repository="acme/house-prices",
            branches=["main"],
            role_name_prefix="house-prices-github",
        )


class ServeStack(Stack):
    """One environment: the pinned model behind an endpoint, watched."""

    def __init__(
        self, scope: Construct, construct_id: str, *, build: BuildStack, env_name: str
    ) -> None:
        super().__init__(scope, construct_id, env=ENV)
        store = ArtifactStore(self, "Artifacts", removal_policy=RemovalPolicy.DESTROY)
        prod = env_name == "prod"
        # The registry as another account would name it: no lookup, no cross-stack export.
        registry = ModelRegistry.from_model_package_group_name(
            self, "Registry", GROUP, account=ENV.account, region=ENV.region
        )
        model = RegisteredModel(
            self,
            "Model",
            model_package_arn=registry.package_arn(PINNED[env_name]),
            artifact_bucket=build.store.bucket,
            artifact_prefix=f"pipelines/{PIPELINE_NAME}/",
            image_repository_arns=build.pipeline.image_repository_arns("RegisterModel"),
            network_isolation=prod,
        )
        capture = f"datacapture/house-prices-{env_name}/"
        endpoint = RealtimeEndpoint(
            self,
            "Endpoint",
            endpoint_name=f"house-prices-{env_name}",
            model=model,
            variant=(
                InstanceVariant(instance_type="ml.m5.large", initial_instance_count=2)
                if prod
                else ServerlessVariant(memory_size_in_mb=2048, max_concurrency=5)
            ),
            traffic_shift=(
                TrafficShift(type="CANARY", step_percent=10, wait_interval=Duration.minutes(10))
                if prod
                else None
            ),
            autoscaling=(
                Autoscaling(min_capacity=2, max_capacity=4, target_invocations_per_instance=200)
                if prod
                else None
            ),
            data_capture=(
                DataCapture(bucket=store.bucket, prefix=capture, kms_key=store.key)
                if prod
                else None
            ),
            kms_key=store.key,
        )
        monitor = (
            DataQualityMonitor(
                self,
                "DataQuality",
                endpoint=endpoint,
                model_package_arn=model.model_package_arn,
                baseline_bucket=build.store.bucket,
                baseline_prefix=f"pipelines/{PIPELINE_NAME}/",
                output_bucket=store.bucket,
                output_prefix=f"monitoring/house-prices-{env_name}/",
                kms_key=store.key,
            )
            if prod
            else None
        )
        EndpointAlarms(
            self,
            "Alarms",
            endpoint=endpoint,
            topic_key=store.key,
            monitor=monitor,
            drift_features=["bmi", "bp"] if monitor else (),
        )
        # Callers of the endpoint: a role the web tier assumes.
        # Its permission is a managed policy: a compliance review (NIST 800-53, HIPAA)
        # wants no inline policies on roles people or services assume.
        caller = iam.Role(self, "Caller", assumed_by=iam.AccountRootPrincipal())
        iam.ManagedPolicy(
            self,
            "InvokeEndpoint",
            roles=[caller],
            statements=[
                iam.PolicyStatement(
                    actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointAsync"],
                    resources=[endpoint.endpoint_arn],
                )
            ],
        )


def main() -> None:
    app = App()
    build = BuildStack(app, "house-prices-build")
    for env_name in PINNED:
        ServeStack(app, f"house-prices-{env_name}", build=build, env_name=env_name)
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app),
        NIST80053R5Checks(app),
        HIPAASecurityChecks(app),
        ServerlessChecks(app),
    )
    app.synth()


if __name__ == "__main__":
    main()
