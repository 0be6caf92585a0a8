"""A deploy stack: one environment's endpoint, monitoring and alarms for its pinned model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_cdk import CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.settings import (
    BuildSettings,
    EndpointSettings,
    EnvironmentSettings,
    GitHubSettings,
    PromotionPin,
    ServerlessVariantSettings,
)
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.data_quality_monitor import DataQualityMonitor
from constructs_lib.endpoint_alarms import AlarmThresholds, EndpointAlarms
from constructs_lib.errors import ConfigurationError
from constructs_lib.github_deploy_access import GitHubDeployAccess
from constructs_lib.realtime_endpoint import (
    Autoscaling,
    DataCapture,
    InstanceVariant,
    RealtimeEndpoint,
    ServerlessVariant,
    TrafficShift,
)
from constructs_lib.registered_model import ModelVpc, RegisteredModel
from stacks.build import build_artifacts_bucket_name, removal_policy


class DeployStack(Stack):
    """One environment: the pinned model behind a guarded, autoscaled, watched endpoint.

    Which model version is served comes from `config/promotion.yaml` alone; the package
    ARN is formatted from the build account, region, group and version, with no lookup.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        settings: EnvironmentSettings,
        build: BuildSettings,
        pin: PromotionPin | None,
        pipeline_prefix: str,
        image_repository_arns: list[str],
        github: GitHubSettings | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description=f"SageMaker MLOps {name}: endpoint, monitoring and alarms",
        )
        self.environment_name = name
        self.artifacts = ArtifactStore(
            self, "Artifacts", removal_policy=removal_policy(settings.removal_policy)
        )
        self.model_package_arn: str | None = None
        if github is not None:
            # Only jobs running in the GitHub environment of the same name may deploy
            # here; give that environment required reviewers for prod.
            self.github = GitHubDeployAccess(
                self,
                "GitHub",
                repository=github.repository,
                branches=[],
                environments=[name],
                create_provider=github.create_oidc_provider,
                role_name_prefix=f"mlops-github-{name}",
            )
        if pin is None or pin.version is None:
            CfnOutput(self, "ServedModel", value="none: no version pinned in promotion.yaml")
            return
        self._serve(name, settings, build, pin, pipeline_prefix, image_repository_arns)

    def _serve(
        self,
        name: str,
        settings: EnvironmentSettings,
        build: BuildSettings,
        pin: PromotionPin,
        pipeline_prefix: str,
        image_repository_arns: list[str],
    ) -> None:
        endpoint_settings = settings.endpoint
        self.model_package_arn = self.format_arn(
            service="sagemaker",
            account=build.account,
            region=build.region,
            resource="model-package",
            resource_name=f"{pin.model_package_group.lower()}/{pin.version}",
        )
        # The build account's artifact bucket has a fixed name and its key a fixed alias,
        # so this account can name them without a lookup; the build stack grants read.
        build_bucket = s3.Bucket.from_bucket_attributes(
            self,
            "BuildArtifacts",
            bucket_name=build_artifacts_bucket_name(build),
            encryption_key=kms.Key.from_key_arn(
                self,
                "BuildArtifactsKey",
                self.format_arn(
                    service="kms",
                    account=build.account,
                    region=build.region,
                    resource="key",
                    resource_name="*",
                ),
            ),
        )
        self.model = RegisteredModel(
            self,
            "Model",
            model_package_arn=self.model_package_arn,
            artifact_bucket=build_bucket,
            artifact_prefix=pipeline_prefix,
            image_repository_arns=image_repository_arns,
            network_isolation=endpoint_settings.network_isolation,
            vpc=(
                ModelVpc(
                    subnet_ids=endpoint_settings.vpc.subnet_ids,
                    security_group_ids=endpoint_settings.vpc.security_group_ids,
                )
                if endpoint_settings.vpc
                else None
            ),
        )
        capture_prefix = f"datacapture/{endpoint_settings.name}"
        with settings_errors(f"config/{name}.yaml: endpoint."):
            self.endpoint = self._endpoint(endpoint_settings, capture_prefix)
        with settings_errors(f"config/{name}.yaml: "):
            self._watch(settings, build_bucket, pipeline_prefix, capture_prefix)
        CfnOutput(self, "ServedModel", value=self.model_package_arn)
        CfnOutput(self, "EndpointName", value=endpoint_settings.name)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)

    def _endpoint(
        self, endpoint_settings: EndpointSettings, capture_prefix: str
    ) -> RealtimeEndpoint:
        v = endpoint_settings.variant
        variant: InstanceVariant | ServerlessVariant = (
            ServerlessVariant(
                memory_size_in_mb=v.memory_size_in_mb,  # type: ignore[arg-type]
                max_concurrency=v.max_concurrency,
            )
            if isinstance(v, ServerlessVariantSettings)
            else InstanceVariant(
                instance_type=v.instance_type, initial_instance_count=v.initial_instance_count
            )
        )
        d = endpoint_settings.deployment
        a = endpoint_settings.autoscaling
        return RealtimeEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_settings.name,
            model=self.model,
            variant=variant,
            traffic_shift=TrafficShift(
                type=d.type,
                step_percent=d.step_percent,
                wait_interval=Duration.seconds(d.wait_interval),
                termination_wait=Duration.seconds(d.termination_wait),
                maximum_execution_timeout=Duration.seconds(d.maximum_execution_timeout),
            ),
            autoscaling=(
                Autoscaling(
                    min_capacity=a.min_capacity,
                    max_capacity=a.max_capacity,
                    target_invocations_per_instance=a.target_invocations_per_instance,
                    scale_in_cooldown=Duration.seconds(a.scale_in_cooldown),
                    scale_out_cooldown=Duration.seconds(a.scale_out_cooldown),
                )
                if a
                else None
            ),
            data_capture=DataCapture(
                bucket=self.artifacts.bucket,
                prefix=capture_prefix,
                sampling_percentage=endpoint_settings.data_capture.sampling_percentage,
                kms_key=self.artifacts.key,
            ),
            kms_key=self.artifacts.key if endpoint_settings.volume_encryption else None,
        )

    def _watch(
        self,
        settings: EnvironmentSettings,
        build_bucket: s3.IBucket,
        pipeline_prefix: str,
        capture_prefix: str,
    ) -> None:
        assert self.model_package_arn is not None
        endpoint_settings = settings.endpoint
        m = settings.monitoring
        self.monitor = DataQualityMonitor(
            self,
            "DataQuality",
            endpoint=self.endpoint,
            model_package_arn=self.model_package_arn,
            baseline_bucket=build_bucket,
            baseline_prefix=pipeline_prefix,
            output_bucket=self.artifacts.bucket,
            output_prefix=f"monitoring/{endpoint_settings.name}",
            capture_prefix=capture_prefix,
            schedule_expression=m.schedule_expression,
            instance_type=m.instance_type,
            max_runtime=Duration.seconds(m.max_runtime),
            kms_key=self.artifacts.key,
        )
        self.alarms = EndpointAlarms(
            self,
            "Alarms",
            endpoint=self.endpoint,
            topic_key=self.artifacts.key,
            thresholds=AlarmThresholds(**settings.alarms.model_dump()),
            monitor=self.monitor,
            drift_features=m.drift_features,
            drift_threshold=m.drift_threshold,
        )


@contextmanager
def settings_errors(prefix: str) -> Iterator[None]:
    """Re-raise a construct's ConfigurationError prefixed with the settings file and key."""
    try:
        yield
    except ConfigurationError as exc:
        raise ConfigurationError(f"{prefix}{exc}") from None
