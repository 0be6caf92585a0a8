"""The shared build stack (artifacts, notifications, GitHub), and the pipeline packages.

Every model's pipeline runs in the build account and writes under its own prefix of one
artifact bucket; one topic carries every model's approvals and failures; GitHub's OIDC
provider and deploy role exist once per account. Per-model pieces live in
`stacks/model_build.py`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.settings import BuildSettings
from constructs_lib import placeholders
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.github_deploy_access import GitHubDeployAccess
from constructs_lib.notification_topic import NotificationTopic
from pipelines._offline import SERVING_READS

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / ".build"
PIPELINES_DIR = REPO_ROOT / "pipelines"
PLACEHOLDERS = Path(placeholders.__file__).resolve()
PIPELINES_PREFIX = "pipelines/"
"""Every model's pipeline writes below `pipelines/<pipeline name>/` of the build bucket."""


def build_artifacts_bucket_name(settings: BuildSettings) -> str:
    """The build artifact bucket's fixed name, so deploy accounts can name it."""
    return f"mlops-artifacts-{settings.account}-{settings.region}"


def build_key_alias() -> str:
    """The build artifact key's alias."""
    return "alias/mlops-build-artifacts"


def imported_build_artifacts(scope: Stack, build: BuildSettings) -> s3.IBucket:
    """The build account's artifact bucket, as a deploy-account stack names it: a fixed
    name and a key in the build account, so no lookup (the build stack grants read)."""
    return s3.Bucket.from_bucket_attributes(
        scope,
        "BuildArtifacts",
        bucket_name=build_artifacts_bucket_name(build),
        encryption_key=kms.Key.from_key_arn(
            scope,
            "BuildArtifactsKey",
            scope.format_arn(
                service="kms",
                account=build.account,
                region=build.region,
                resource="key",
                resource_name="*",
            ),
        ),
    )


def removal_policy(setting: str) -> RemovalPolicy:
    """Map the `removal_policy` setting to CDK's enum."""
    return RemovalPolicy.RETAIN if setting == "retain" else RemovalPolicy.DESTROY


def pipeline_package(package: str, where: str) -> ModuleType:
    """The pipeline package `pipelines.<package>`, checked for the interface the app uses
    (`build_pipeline`, `step_sources`, `data_prefix`, `SAMPLE_REQUEST`)."""
    try:
        module = importlib.import_module(f"pipelines.{package}")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"pipelines.{package}", "pipelines"):
            raise
        known = sorted(
            p.name
            for p in PIPELINES_DIR.iterdir()
            if (p / "__init__.py").is_file() and not p.name.startswith("_")
        )
        raise ConfigurationError(
            f"{where}: pipeline.package: got {package!r}; allowed a package under pipelines/"
            f" ({', '.join(known)})"
        ) from None
    missing = [
        name
        for name in ("build_pipeline", "step_sources", "data_prefix", "SAMPLE_REQUEST")
        if not hasattr(module, name)
    ]
    if missing:
        raise ConfigurationError(
            f"{where}: pipeline.package: got {package!r}, which lacks {missing}; a pipeline"
            " package exports build_pipeline, step_sources, data_prefix and SAMPLE_REQUEST"
        )
    return module


# Stand-ins for the names that differ between models built by one package: the SDK
# builds a package's definition once per parameters and region, and each model gets a
# copy with its own names (so 25 models of one package cost one SDK build).
PIPELINE_NAME_STAND_IN = "cdk-stand-in-pipeline-name"
GROUP_NAME_STAND_IN = "cdk-stand-in-model-package-group"


def definition_key(package: ModuleType, **arguments: Any) -> str:
    """What a cached definition depends on, hashed (see `cached_definition`)."""
    digest = hashlib.sha256()
    digest.update(_code_digest(Path(package.__file__ or "").resolve().parent).encode())
    digest.update(
        json.dumps([package.__name__, _sdk_versions(), arguments], sort_keys=True).encode()
    )
    return digest.hexdigest()[:24]


@functools.cache
def _code_digest(code: Path) -> str:
    """The package's code, the shared pipeline helpers and the placeholders, hashed once
    per process (every model of a package shares it)."""
    digest = hashlib.sha256()
    for path in [*sorted(code.rglob("*.py")), *sorted(PIPELINES_DIR.glob("*.py")), PLACEHOLDERS]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _sdk_versions() -> tuple[str, ...]:
    """SDK v3's distributions (sagemaker, -core, -train, -serve, -mlops...), read once per
    process: scanning the installed distributions costs ~0.1 s each time."""
    return tuple(
        sorted(
            f"{d.metadata['Name']}=={d.version}"
            for d in importlib.metadata.distributions()
            if d.metadata["Name"].lower().startswith("sagemaker")
            # This project's own distribution (an egg-info in the working folder) is not
            # the SDK: whether it is on the path must not change the key.
            and d.metadata["Name"].lower() != "sagemaker-mlops-cdk"
        )
    )


def cached_definition(
    package: ModuleType,
    cache_dir: Path,
    *,
    pipeline_name: str,
    model_package_group_name: str,
    **arguments: Any,
) -> dict[str, Any]:
    """A model's pipeline definition, built with the SageMaker SDK once per input.

    Importing the SDK and building a definition takes most of a cold synth, yet the
    output depends only on the package's code (with the shared pipeline helpers and the
    placeholders), the SDK's versions, and the arguments. It is built with stand-in
    names and kept in `cache_dir` under a key of exactly those, then each model gets it
    with its own pipeline and group names: a warm synth skips the SDK, models sharing a
    package and parameters share one build, and any change builds afresh. `make clean`
    empties the cache.
    """
    cached = cache_dir / f"definition-{definition_key(package, **arguments)}.json"
    if cached.is_file():
        text = cached.read_text(encoding="utf-8")
    else:
        built = package.build_pipeline(
            pipeline_name=PIPELINE_NAME_STAND_IN,
            model_package_group_name=GROUP_NAME_STAND_IN,
            **arguments,
        ).definition()
        text = json.dumps(json.loads(built), indent=1)
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(cached)
    text = text.replace(PIPELINE_NAME_STAND_IN, pipeline_name).replace(
        GROUP_NAME_STAND_IN, model_package_group_name
    )
    definition: dict[str, Any] = json.loads(text)
    return definition


class BuildStack(Stack):
    """What every model's build side shares: one artifact store, one topic, GitHub access.

    Shared, because each exists once per account by nature (GitHub's OIDC provider, the
    fixed-name bucket deploy accounts read by name) or gains nothing from copies (one
    topic people subscribe to once). Per model: see `ModelBuildStack`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: BuildSettings,
        reader_accounts: list[str],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description="SageMaker MLOps build side, shared by every model: artifact store,"
            " notifications, GitHub access",
        )
        self.reader_accounts = reader_accounts
        self.artifacts = ArtifactStore(
            self,
            "Artifacts",
            removal_policy=removal_policy(settings.removal_policy),
            noncurrent_version_expiration=Duration.days(
                settings.noncurrent_version_expiration_days
            ),
            bucket_name=build_artifacts_bucket_name(settings),
            key_alias=build_key_alias(),
        )
        # Messaging has its own key, so the artifact key's policy names only S3 use, its
        # owners and the deploy accounts' S3-conditioned decrypt (no SNS, SQS, EventBridge
        # or CloudWatch). One key for every model's topic use and dead-letter queues.
        notifications = NotificationTopic(
            self,
            "Notifications",
            display_name="SageMaker MLOps: approvals, promotions and pipeline failures",
        )
        self.topic = notifications.topic
        self.messaging_key = notifications.key
        """Encrypts the topic and every model's dead-letter queues; never stored data."""
        self._allow_serving_reads(settings)
        self._allow_alarm_events()
        github = settings.github
        self.owns_github_provider = False
        """Whether this stack gets the account's GitHub OIDC provider (the build stack is
        the app's first stack, so it does unless `oidc_provider` is existing)."""
        if github:
            # Jobs on the deploy branches outside any GitHub environment.
            self.github = GitHubDeployAccess(
                self,
                "GitHub",
                repository=github.repository,
                branches=github.deploy_branches,
                require_ref=github.require_ref,
                provider=github.oidc_provider,
                role_name_prefix="mlops-github-build",
            )
            self.owns_github_provider = github.oidc_provider != "existing"

    def _allow_alarm_events(self) -> None:
        """Deploy accounts may put "CloudWatch Alarm State Change" events (and nothing
        else) on this account's default event bus: their `AlarmForwarding` rules send the
        drift and model-quality alarms that start a model's `RetrainingTrigger`, which
        matches the sending account and the alarms' ARNs. One statement for every
        deploy account, so adding a model does not change this stack."""
        if not self.reader_accounts:
            return
        self.alarm_events_policy = events.CfnEventBusPolicy(
            self,
            "DeployAccountsSendAlarmEvents",
            event_bus_name="default",
            statement_id="DeployAccountsSendAlarmStateChanges",
            statement={
                "Effect": "Allow",
                "Principal": {
                    "AWS": [
                        self.format_arn(service="iam", region="", account=account, resource="root")
                        for account in self.reader_accounts
                    ]
                },
                "Action": "events:PutEvents",
                "Resource": self.format_arn(
                    service="events", resource="event-bus", resource_name="default"
                ),
                "Condition": {
                    "StringEquals": {"events:detail-type": "CloudWatch Alarm State Change"},
                    "ForAllValues:StringEquals": {"events:source": ["aws.cloudwatch"]},
                },
            },
        )
        """Lets the deploy accounts forward alarm state changes to the default bus."""

    def _allow_serving_reads(self, settings: BuildSettings) -> None:
        """Deploy accounts read what serving needs and nothing else: model artifacts
        (creating a model from a registered package) and data-quality baselines (the
        monitor), below every pipeline's prefix, not its data splits, reports or code;
        and decrypt them only through S3 reads of this bucket. One statement for every
        model, so adding a model does not change this stack."""
        if not self.reader_accounts:
            return
        readers = [iam.AccountPrincipal(account) for account in self.reader_accounts]
        bucket, key = self.artifacts.bucket, self.artifacts.key
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeployAccountsReadModelsAndBaselines",
                principals=readers,
                actions=["s3:GetObject"],
                resources=[
                    bucket.arn_for_objects(f"{PIPELINES_PREFIX}*/{part}*") for part in SERVING_READS
                ],
            )
        )
        # The bucket's fixed name, not its token: the bucket refers to the key already.
        bucket_arn = self.format_arn(
            service="s3", region="", account="", resource=build_artifacts_bucket_name(settings)
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeployAccountsDecryptThroughS3ReadsOfTheBucket",
                principals=readers,
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"s3.{settings.region}.amazonaws.com",
                        # Bucket Keys are on: S3 uses the bucket's ARN as the context.
                        "kms:EncryptionContext:aws:s3:arn": bucket_arn,
                    }
                },
            )
        )
