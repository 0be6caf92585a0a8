"""The build stack: artifact store, model registry and the training pipeline."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from config.settings import BuildSettings, EnvironmentSettings
from constructs_lib import placeholders
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.github_deploy_access import GitHubDeployAccess
from constructs_lib.model_approval import ModelApproval
from constructs_lib.model_registry import ModelRegistry
from constructs_lib.notification_topic import NotificationTopic
from constructs_lib.pipeline_notifications import PipelineNotifications
from constructs_lib.retraining_schedule import RetrainingSchedule
from constructs_lib.sagemaker_pipeline import SageMakerPipeline
from pipelines.tabular_classifier import pipeline as reference_pipeline

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / ".build"
PIPELINE_CODE = Path(reference_pipeline.__file__).resolve().parent
PLACEHOLDERS = Path(placeholders.__file__).resolve()


def build_artifacts_bucket_name(settings: BuildSettings) -> str:
    """The build artifact bucket's fixed name, so deploy accounts can name it."""
    return f"mlops-artifacts-{settings.account}-{settings.region}"


def build_key_alias() -> str:
    """The build artifact key's alias."""
    return "alias/mlops-build-artifacts"


def definition_key(**arguments: Any) -> str:
    """What the cached definition depends on, hashed (see `cached_definition`)."""
    digest = hashlib.sha256()
    for path in [*sorted(PIPELINE_CODE.rglob("*.py")), PLACEHOLDERS]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    # SDK v3 is several distributions (sagemaker, -core, -train, -serve, -mlops...).
    sdk = sorted(
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions()
        if d.metadata["Name"].lower().startswith("sagemaker")
        # This project's own distribution (from an egg-info in the working folder) is not
        # the SDK: whether it is on the path must not change the key.
        and d.metadata["Name"].lower() != "sagemaker-mlops-cdk"
    )
    digest.update(json.dumps([sdk, arguments], sort_keys=True).encode())
    return digest.hexdigest()[:24]


def cached_definition(cache_dir: Path, **arguments: Any) -> dict[str, Any]:
    """The reference pipeline's definition, built with the SageMaker SDK once per input.

    Importing the SDK and building the definition takes most of a synth, yet its output
    depends only on the pipeline's code (and the placeholders it uses), the versions of
    the SDK's distributions and these arguments: the result is kept in `.build/` under
    a key of exactly those, so a warm synth skips the SDK and any change to them builds
    afresh. `make clean` empties the cache.
    """
    cached = cache_dir / f"definition-{definition_key(**arguments)}.json"
    if cached.is_file():
        loaded: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return loaded
    definition: dict[str, Any] = json.loads(
        reference_pipeline.build_pipeline(**arguments).definition()
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob("definition-*.json"):
        stale.unlink()
    partial = cached.with_suffix(".tmp")
    partial.write_text(json.dumps(definition, indent=1), encoding="utf-8")
    partial.replace(cached)
    return definition


def removal_policy(setting: str) -> RemovalPolicy:
    """Map the `removal_policy` setting to CDK's enum."""
    return RemovalPolicy.RETAIN if setting == "retain" else RemovalPolicy.DESTROY


class BuildStack(Stack):
    """Where models are built: data and artifacts, the pipeline, the registry."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: BuildSettings,
        deploy_environments: dict[str, EnvironmentSettings],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description="SageMaker MLOps build side: artifact store, training pipeline, model registry",
        )
        policy = removal_policy(settings.removal_policy)
        reader_accounts = sorted(
            {e.account for e in deploy_environments.values()} - {settings.account}
        )
        self.artifacts = ArtifactStore(
            self,
            "Artifacts",
            removal_policy=policy,
            noncurrent_version_expiration=Duration.days(
                settings.noncurrent_version_expiration_days
            ),
            bucket_name=build_artifacts_bucket_name(settings),
            key_alias=build_key_alias(),
        )
        self.registry = ModelRegistry(
            self,
            "Registry",
            model_package_group_name=settings.registry.model_package_group_name,
            description=settings.registry.description or None,
            reader_accounts=reader_accounts,
            removal_policy=policy,
        )
        pipeline_settings = settings.pipeline
        definition = cached_definition(
            BUILD_DIR / pipeline_settings.name,
            pipeline_name=pipeline_settings.name,
            model_package_group_name=settings.registry.model_package_group_name,
            region=settings.region,
            processing_instance_type=pipeline_settings.processing_instance_type,
            training_instance_type=pipeline_settings.training_instance_type,
            model_quality_threshold=pipeline_settings.model_quality_threshold,
        )
        self.pipeline = SageMakerPipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_settings.name,
            definition=definition,
            artifact_bucket=self.artifacts.bucket,
            kms_key=self.artifacts.key,
            step_sources=reference_pipeline.step_sources(BUILD_DIR / pipeline_settings.name),
            data_read_prefixes=[reference_pipeline.DATA_PREFIX],
            description="Preprocess, train, evaluate, baseline, quality gate, register",
        )
        self._automate(settings)
        self.inference_image_repositories = self.pipeline.image_repository_arns("RegisterModel")
        # Deploy accounts create models from registered packages: they read the model
        # artifacts and baselines the pipeline wrote (and decrypt them).
        for account in reader_accounts:
            self.artifacts.grant_read(
                iam.AccountPrincipal(account), f"{self.pipeline.artifact_prefix}*"
            )

    def _automate(self, settings: BuildSettings) -> None:
        """Approval, failure notifications, retraining and GitHub access."""
        key = self.artifacts.key
        self.topic = NotificationTopic(
            self,
            "Notifications",
            key=key,
            display_name="SageMaker MLOps: approvals, promotions and pipeline failures",
        ).topic
        github = settings.github
        approval = settings.approval
        try:
            self.approval = ModelApproval(
                self,
                "Approval",
                registry=self.registry,
                artifacts=self.artifacts,
                evaluation_prefix=self.pipeline.artifact_prefix,
                topic=self.topic,
                key=key,
                policy=approval.policy,
                thresholds=approval.metric_thresholds(),
                primary_metric=approval.primary_metric,
                primary_metric_direction=approval.primary_metric_direction,
                problem_type=approval.problem_type,
                report_metrics=approval.report_metrics,
                target_environment=settings.promotion_target,
                github_repository=github.repository if github else None,
                github_base_branch=github.base_branch if github else "main",
                github_token_secret_name=github.token_secret_name if github else None,
            )
        except ConfigurationError as exc:  # name the settings file in front
            raise ConfigurationError(f"config/build.yaml: approval: {exc}") from None
        self.failures = PipelineNotifications(
            self, "PipelineFailures", pipeline=self.pipeline, topic=self.topic, topic_key=key
        )
        retraining = settings.retraining
        self.retraining = RetrainingSchedule(
            self,
            "Retraining",
            pipeline=self.pipeline,
            key=key,
            schedule_expression=retraining.schedule_expression,
            parameters=retraining.parameters,
            enabled=retraining.enabled,
        )
        if github:
            self.github = GitHubDeployAccess(
                self,
                "GitHub",
                repository=github.repository,
                branches=github.deploy_branches,
                create_provider=github.create_oidc_provider,
                role_name_prefix="mlops-github-build",
            )
