"""Load and validate the reference app's settings from `config/*.yaml`.

Each deploy environment has one file (`staging.yaml`, `prod.yaml`, ...), the build side
has `build.yaml`, and `promotion.yaml` pins the model version each environment serves.
Unknown keys and bad values fail synth with one message naming the file, the key, the
value received and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from constructs_lib.errors import ConfigurationError
from constructs_lib.metrics import Direction, MetricThreshold, ProblemType

CONFIG_DIR = Path(__file__).resolve().parent
BUILD_FILE = "build.yaml"
PROMOTION_FILE = "promotion.yaml"

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region")]
EnvironmentName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSettings(_Settings):
    """The reference SageMaker pipeline on the build side."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")]
    processing_instance_type: InstanceType = "ml.m5.large"
    training_instance_type: InstanceType = "ml.m5.large"
    model_quality_threshold: Annotated[float, Field(ge=0, le=1)] = 0.9


class RegistrySettings(_Settings):
    """The model package group (Model Registry)."""

    model_package_group_name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    description: str = ""


class ThresholdSettings(_Settings):
    """One metric's quality bar: `{minimum: 0.9}` (higher is better) or `{maximum: 3.5}`
    (lower is better)."""

    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_bare(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f"a bare number is ambiguous; write {{minimum: {value}}} (higher is better)"
                f" or {{maximum: {value}}} (lower is better)"
            )
        return value


class ApprovalSettings(_Settings):
    """How the approval function judges a newly registered package (`ModelApproval`)."""

    policy: Literal["manual", "auto"] = "manual"
    problem_type: ProblemType | None = None
    report_metrics: list[str] | None = None
    thresholds: dict[str, ThresholdSettings]
    primary_metric: str
    primary_metric_direction: Direction | None = None

    @field_validator("thresholds")
    @classmethod
    def _one_bound_in_its_direction(
        cls, value: dict[str, ThresholdSettings]
    ) -> dict[str, ThresholdSettings]:
        for metric, bound in value.items():
            try:
                MetricThreshold(metric=metric, minimum=bound.minimum, maximum=bound.maximum)
            except ConfigurationError as exc:
                raise ValueError(f"{metric}: {exc}") from None
        return value

    def metric_thresholds(self) -> list[MetricThreshold]:
        """The thresholds as `ModelApproval` takes them."""
        return [
            MetricThreshold(metric=metric, minimum=bound.minimum, maximum=bound.maximum)
            for metric, bound in self.thresholds.items()
        ]


class RetrainingSettings(_Settings):
    """The scheduled retraining run (EventBridge Scheduler)."""

    enabled: bool = False
    schedule_expression: str = "cron(0 3 ? * MON *)"
    parameters: dict[str, str] = {}


class GitHubSettings(_Settings):
    """The repository promotion PRs go to and GitHub Actions deploy from."""

    repository: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
    ]
    base_branch: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,200}$")] = "main"
    token_secret_name: str = "mlops/github-token"  # noqa: S105 (a secret name, not a secret)
    deploy_branches: list[str] = ["main"]

    @field_validator("base_branch")
    @classmethod
    def _git_branch(cls, value: str) -> str:
        if ".." in value or value.startswith("/") or value.endswith(("/", ".lock")):
            raise ValueError("not a valid git branch name")
        return value

    # An account has one GitHub OIDC provider: false when it already exists there (or
    # two of the stacks share an account).
    create_oidc_provider: bool = True


class BuildSettings(_Settings):
    """Where pipelines run and models are registered (`config/build.yaml`)."""

    account: AccountId
    region: Region
    removal_policy: Literal["retain", "destroy"] = "retain"
    noncurrent_version_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 90
    pipeline: PipelineSettings
    registry: RegistrySettings
    approval: ApprovalSettings
    promotion_target: EnvironmentName = "staging"
    retraining: RetrainingSettings = RetrainingSettings()
    github: GitHubSettings | None = None


class InstanceVariantSettings(_Settings):
    """Instance-backed capacity."""

    instance_type: str
    initial_instance_count: int = 1


class ServerlessVariantSettings(_Settings):
    """Serverless capacity (needs `network_isolation: false`, no `vpc`, `data_capture:
    null` and `monitoring: null`: Serverless Inference supports none of them)."""

    memory_size_in_mb: int
    max_concurrency: int = 5
    provisioned_concurrency: int | None = None


class DeploymentSettings(_Settings):
    """Blue/green traffic shifting; durations in seconds."""

    type: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    step_percent: int | None = None
    wait_interval: int = 300
    termination_wait: int = 300
    maximum_execution_timeout: int = 3600


class AutoscalingSettings(_Settings):
    """Target tracking on invocations per instance; cooldowns in seconds."""

    min_capacity: int
    max_capacity: int
    target_invocations_per_instance: int
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60


class DataCaptureSettings(_Settings):
    """Share of requests and responses captured for monitoring (`null`: no capture)."""

    sampling_percentage: int = 100


class VpcSettings(_Settings):
    """Run the model's containers in these subnets and security groups."""

    subnet_ids: list[str]
    security_group_ids: list[str]


class EndpointSettings(_Settings):
    """The real-time endpoint. Ranges and combinations are checked by the constructs."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    variant: InstanceVariantSettings | ServerlessVariantSettings
    volume_encryption: bool = True
    network_isolation: bool = True
    vpc: VpcSettings | None = None
    deployment: DeploymentSettings = DeploymentSettings()
    autoscaling: AutoscalingSettings | None = None
    data_capture: DataCaptureSettings | None = DataCaptureSettings()


class AlarmSettings(_Settings):
    """When the endpoint is unhealthy: the fields of `constructs_lib.endpoint_alarms.
    AlarmThresholds`, which checks them (a test keeps the defaults equal)."""

    model_latency_p99_ms: int = 500
    errors_5xx_per_minute: int = 1
    errors_4xx_per_minute: int = 20
    cpu_utilization_percent: int | None = None  # instance endpoints; default 80
    memory_utilization_percent: int = 80
    concurrency_utilization_percent: int | None = None  # serverless endpoints; default 80
    evaluation_minutes: int = 3


class MonitoringSettings(_Settings):
    """Model Monitor data-quality schedule and drift alarms (`null`: no monitoring)."""

    schedule_expression: str = "cron(0 * ? * * *)"
    instance_type: InstanceType = "ml.m5.large"
    max_runtime: int = 3600
    drift_features: list[str] = []
    drift_threshold: float = 0.2


class EnvironmentSettings(_Settings):
    """One deploy environment (`config/<name>.yaml`)."""

    account: AccountId
    region: Region
    removal_policy: Literal["retain", "destroy"] = "retain"
    endpoint: EndpointSettings
    alarms: AlarmSettings = AlarmSettings()
    monitoring: MonitoringSettings | None = MonitoringSettings()


class PromotionPin(_Settings):
    """The model one environment serves."""

    model_package_group: str
    version: Annotated[int, Field(gt=0, strict=True)] | None = None


class PromotionManifest(_Settings):
    """`config/promotion.yaml`: environment name -> pinned model package version."""

    environments: dict[EnvironmentName, PromotionPin]


class Settings(_Settings):
    """Everything the reference app needs, validated together."""

    build: BuildSettings
    environments: dict[str, EnvironmentSettings]
    promotion: PromotionManifest

    @model_validator(mode="after")
    def _pins_match(self) -> Settings:
        group = self.build.registry.model_package_group_name
        for env, pin in self.promotion.environments.items():
            if pin.model_package_group != group:
                raise ValueError(
                    f"{PROMOTION_FILE}: environments.{env}.model_package_group: got"
                    f" {pin.model_package_group!r}; the registry defines only {group!r}"
                    f" ({BUILD_FILE}: registry.model_package_group_name)"
                )
        return self


M = TypeVar("M", bound=BaseModel)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: settings file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigurationError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    return data


def _describe(errors: ValidationError, path: Path) -> str:
    lines = []
    for err in errors.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: {key}: unknown setting (value {err['input']!r})")
        elif err["type"] == "missing":
            lines.append(f"{path}: {key}: required setting is missing")
        else:
            lines.append(f"{path}: {key}: got {err['input']!r}; {err['msg']}")
    return "\n".join(lines)


def parse(model: type[M], data: Mapping[str, Any], path: Path) -> M:
    """Validate `data` read from `path` as `model`, or raise ConfigurationError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, path)) from None


def load_manifest(path: Path) -> PromotionManifest:
    """Read and validate a promotion manifest on its own (promotion tooling uses this)."""
    return parse(PromotionManifest, _read_yaml(path), path)


def load_settings(config_dir: Path = CONFIG_DIR, environments: list[str] | None = None) -> Settings:
    """Load build, environment and promotion settings from `config_dir`.

    `environments` limits the deploy environments loaded (default: every
    `<name>.yaml` beside `build.yaml`); an unknown name fails with the known ones.
    """
    known = sorted(
        p.stem for p in config_dir.glob("*.yaml") if p.name not in (BUILD_FILE, PROMOTION_FILE)
    )
    wanted = known if environments is None else environments
    unknown = [e for e in wanted if e not in known]
    if unknown:
        raise ConfigurationError(
            f"unknown environment(s) {unknown}: no config/<name>.yaml for them;"
            f" known environments: {known}"
        )
    build = parse(BuildSettings, _read_yaml(config_dir / BUILD_FILE), config_dir / BUILD_FILE)
    envs = {
        name: parse(
            EnvironmentSettings,
            _read_yaml(config_dir / f"{name}.yaml"),
            config_dir / f"{name}.yaml",
        )
        for name in wanted
    }
    manifest = load_manifest(config_dir / PROMOTION_FILE)
    target = build.promotion_target
    if target not in manifest.environments:
        raise ConfigurationError(
            f"{config_dir / BUILD_FILE}: promotion_target: got {target!r}; the environments"
            f" pinned in {PROMOTION_FILE} are {sorted(manifest.environments)}"
        )
    strays = sorted(set(manifest.environments) - set(known))
    if strays:
        raise ConfigurationError(
            f"{config_dir / PROMOTION_FILE}: environments.{strays[0]}: no settings file"
            f" config/{strays[0]}.yaml; known environments: {known}"
        )
    manifest = PromotionManifest(
        environments={k: v for k, v in manifest.environments.items() if k in wanted}
    )
    try:
        return Settings(build=build, environments=envs, promotion=manifest)
    except ValidationError as exc:
        raise ConfigurationError(
            "\n".join(str(e["ctx"]["error"]) if "ctx" in e else e["msg"] for e in exc.errors())
        ) from None
