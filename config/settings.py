"""Load and validate the reference app's settings from `config/`.

- `build.yaml`: the build account (artifacts, notifications, GitHub) shared by every model.
- `<environment>.yaml` (`staging.yaml`, `prod.yaml`, ...): one deploy account each.
- `models/<model>.yaml`: one model each: its pipeline package and parameters, registry
  group, approval policy, retraining, and per environment how it is served (or `null`:
  not served there). Adding a model is adding this file (and its pipeline package).
- `promotion.yaml`: the version each model serves in each environment.

Unknown keys and bad values fail synth with one message naming the file, the key, the
value received and what is allowed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from constructs_lib.errors import ConfigurationError
from constructs_lib.metrics import REPORT_METRICS, Direction, MetricThreshold, ProblemType
from constructs_lib.vpc_config import MAX_SECURITY_GROUPS as MAX_GROUPS
from constructs_lib.vpc_config import MAX_SUBNETS, SECURITY_GROUP_ID, SUBNET_ID

CONFIG_DIR = Path(__file__).resolve().parent
BUILD_FILE = "build.yaml"
PROMOTION_FILE = "promotion.yaml"
MODELS_DIR = "models"

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region")]
EnvironmentName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
# Model names prefix every generated name: 40 characters leave room for `-<environment>`
# in endpoint names (63) and for the stacks' and roles' own prefixes and suffixes.
MODEL_NAME = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
MODEL_NAME_MAX = 40
ModelName = Annotated[str, Field(pattern=MODEL_NAME, max_length=MODEL_NAME_MAX)]
GroupName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSettings(_Settings):
    """A model's SageMaker pipeline: the package under `pipelines/` that builds it."""

    package: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")] | None = None
    """Default: the model's name."""
    parameters: dict[str, Any] = {}
    """Passed to the package's `build_pipeline` (which checks them)."""


class RegistrySettings(_Settings):
    """The model package group (Model Registry)."""

    model_package_group_name: GroupName | None = None
    """Default: the model's name."""
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


RetrainingAlarm = Literal["drift", "model_quality"]
"""Which alarms of a served model may start its pipeline: `drift` (the data-quality
monitor's `drift_features`) or `model_quality` (the model-quality `thresholds`)."""


class AlarmRetrainingSettings(_Settings):
    """`retraining.on_alarms`: start the pipeline when the model's drift or model-quality
    alarms fire in the listed environments (`RetrainingTrigger`; `null`: never)."""

    environments: Annotated[list[EnvironmentName], Field(min_length=1)]
    """Environments whose alarms start the pipeline, e.g. `[prod]`. Required."""
    alarms: Annotated[list[RetrainingAlarm], Field(min_length=1)] = ["drift", "model_quality"]
    """Which of the model's alarms there do. Default both."""
    min_interval_hours: Annotated[int, Field(ge=0, le=8760)] = 24
    """No start when the last execution started less than this long ago. Default 24."""
    parameters: dict[str, str] | None = None
    """Pipeline parameters of an alarm-started run. Default: `retraining.parameters`."""


class RetrainingSettings(_Settings):
    """The scheduled retraining run (EventBridge Scheduler) and retraining on alarms."""

    enabled: bool = False
    schedule_expression: str = "cron(0 3 ? * MON *)"
    parameters: dict[str, str] = {}
    on_alarms: AlarmRetrainingSettings | None = None
    """Start the pipeline on drift or model-quality alarms. Default none: never."""


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

    oidc_provider: Literal["ensure", "create", "existing"] = "ensure"
    """How each account gets GitHub's OIDC provider (one per account; the app makes it in
    the first of its stacks there): ensure (default) creates it unless it exists and never
    deletes it; create makes it a resource of that stack (fails where one exists); existing
    creates nothing."""
    require_ref: bool = True
    """Deploy roles trust only tokens naming the branch, which needs the repository's OIDC
    subject template set to repo, context, ref (README "GitHub deploy access"). Default true."""


class VpcSettings(_Settings):
    """Subnets and security groups SageMaker runs containers in: `vpc:` of `build.yaml`
    (every pipeline job), of `<environment>.yaml` (every model and monitoring job served
    there) or of a model's `environments.<env>.endpoint` (that model; `null` opts out of
    the environment's). Checked as `constructs_lib.VpcConfig` checks them."""

    subnet_ids: list[str]
    """Private subnet ids (`subnet-` and 8 or 17 hex digits), 1 to 16."""
    security_group_ids: list[str]
    """Security group ids (`sg-` and 8 or 17 hex digits), 1 to 5."""

    @field_validator("subnet_ids", "security_group_ids")
    @classmethod
    def _ids(cls, value: list[str], info: ValidationInfo) -> list[str]:
        subnets = info.field_name == "subnet_ids"
        pattern, most = (SUBNET_ID, MAX_SUBNETS) if subnets else (SECURITY_GROUP_ID, MAX_GROUPS)
        kind = "subnet" if subnets else "sg"
        rule = f"allowed 1 to {most} ids, each {kind}- and 8 or 17 hex digits"
        bad = [v for v in value if not pattern.fullmatch(v)]
        if bad:
            raise PydanticCustomError("vpc_id", f"{bad[0]!r} is not an id; {rule}")
        if not 1 <= len(value) <= most:
            raise PydanticCustomError("vpc_ids", f"{len(value)} ids; {rule}")
        return value


class BuildSettings(_Settings):
    """The build account every model's pipeline runs in (`config/build.yaml`)."""

    account: AccountId
    region: Region
    removal_policy: Literal["retain", "destroy"] = "retain"
    noncurrent_version_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 90
    promotion_target: EnvironmentName = "staging"
    github: GitHubSettings | None = None
    vpc: VpcSettings | None = None
    """Every pipeline job runs in these subnets and security groups. Default: none."""


def _variant_kind(value: Any) -> str | None:
    """Which kind of capacity a variant mapping describes, by its one required key."""
    if isinstance(value, Mapping):
        if "instance_type" in value:
            return "instance"
        if "memory_size_in_mb" in value:
            return "serverless"
        return None
    return "serverless" if isinstance(value, ServerlessVariantSettings) else "instance"


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


class EndpointSettings(_Settings):
    """The real-time endpoint. Ranges and combinations are checked by the constructs."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")] = ""
    """Default: `<model>-<environment>`."""
    variant: Annotated[
        Annotated[InstanceVariantSettings, Tag("instance")]
        | Annotated[ServerlessVariantSettings, Tag("serverless")],
        Discriminator(
            _variant_kind,
            custom_error_type="variant_kind",
            custom_error_message="allowed instance_type (instance capacity) or"
            " memory_size_in_mb (serverless capacity)",
        ),
    ]
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


GROUND_TRUTH_PREFIX = "ground-truth/{endpoint}/"
"""Where labels go in the environment's store unless `ground_truth_prefix` says."""


class ModelQualitySettings(_Settings):
    """`monitoring.model_quality`: Model Monitor model-quality schedule and alarms
    (`ModelQualityMonitor`; absent or `null`: none). Offsets, schedule and runtime are
    checked by the construct."""

    problem_type: ProblemType | None = None
    """Default: `approval.problem_type`; one of the two is required."""
    ground_truth_prefix: Annotated[str, Field(pattern=r"^[^/].*/$", max_length=900)] = ""
    """Folder of the labels in the environment's store, ending with '/'. Default
    `ground-truth/<endpoint>/`."""
    start_time_offset: str
    """Start of each run's window, e.g. `-P2D`. Required (how late labels arrive)."""
    end_time_offset: str
    """End of each run's window, e.g. `-P1D`. Required."""
    inference_attribute: str | None = None
    """Where the prediction is in the captured response (CSV index or JSON path)."""
    probability_attribute: str | None = None
    """Where the positive-class probability is (binary_classification only)."""
    probability_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    """Probability from which a prediction is positive (binary_classification only)."""
    schedule_expression: str = "cron(0 * ? * * *)"
    instance_type: InstanceType = "ml.m5.large"
    max_runtime: int = 1800
    """Seconds; at most half the schedule's period. Default 1800."""
    thresholds: dict[str, ThresholdSettings] = {}
    """Metric -> `{minimum: x}` or `{maximum: x}`: one alarm each. Default none."""

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
        """The thresholds as `ModelQualityMonitor.alarm` takes them."""
        return [
            MetricThreshold(metric=metric, minimum=bound.minimum, maximum=bound.maximum)
            for metric, bound in self.thresholds.items()
        ]


class MonitoringSettings(_Settings):
    """Model Monitor data-quality schedule and drift alarms (`null`: no monitoring)."""

    schedule_expression: str = "cron(0 * ? * * *)"
    instance_type: InstanceType = "ml.m5.large"
    max_runtime: int = 3600
    drift_features: list[str] = []
    drift_threshold: float = 0.2
    model_quality: ModelQualitySettings | None = None
    """Model-quality monitoring against ground truth. Default none."""


class BatchMonitoringSettings(_Settings):
    """Model Monitor data quality on what each batch run scored, and drift alarms
    (`null`: no capture, no monitoring). Checked as `constructs_lib.BatchMonitoring`
    checks it."""

    schedule_expression: str = "cron(0 * ? * * *)"
    """Model Monitor cron: hourly, daily `cron(0 H ? * * *)` or every N hours. Default hourly."""
    instance_type: InstanceType = "ml.m5.large"
    max_runtime: int = 3600
    """Seconds, up to the schedule's period. Default 3600."""
    drift_features: list[str] = []
    """Features with a drift alarm each. Default none."""
    drift_threshold: float = 0.2
    """Drift (distance) above which a feature alarms, above 0 up to 1. Default 0.2."""


class BatchSettings(_Settings):
    """Scheduled batch scoring (`environments.<env>.batch`): the pinned version scores
    every file under `input_prefix` of the environment's artifact store and writes
    predictions under `output_prefix`. Checked as `constructs_lib.BatchInference`
    checks it."""

    schedule_expression: str = "cron(0 2 * * ? *)"
    """EventBridge Scheduler `cron(...)`, `rate(...)` or `at(...)`. Default daily at 02:00."""
    timezone: str = "UTC"
    """IANA time zone of the schedule. Default UTC."""
    input_prefix: str = ""
    """Folder (ending with '/') of the files to score. Default `batch/<model>/input/`."""
    output_prefix: str = ""
    """Folder (ending with '/') of predictions, captured data and monitoring reports.
    Default `batch/<model>/output/`."""
    content_type: str = "text/csv"
    split_type: Literal["None", "Line", "RecordIO", "TFRecord"] = "Line"
    instance_type: InstanceType = "ml.m5.large"
    instance_count: Annotated[int, Field(ge=1, strict=True)] = 1
    monitoring: BatchMonitoringSettings | None = BatchMonitoringSettings()
    enabled: bool = True
    """Whether the schedule runs (false keeps it, disabled). Default true."""

    @field_validator("input_prefix", "output_prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        if value and (not value.endswith("/") or value.startswith("/")):
            raise PydanticCustomError(
                "key_prefix",
                "allowed a folder prefix such as batch/churn/input/ (ending with '/', not"
                " starting with it)",
            )
        return value


class ServingSettings(_Settings):
    """How one model is served in one environment (`environments.<env>` of its file): an
    endpoint, a batch schedule, or both."""

    endpoint: EndpointSettings | None = None
    """The real-time endpoint. Default none: then `batch` is required, and `alarms` and
    `monitoring` (the endpoint's) do not apply."""
    alarms: AlarmSettings = AlarmSettings()
    monitoring: MonitoringSettings | None = MonitoringSettings()
    batch: BatchSettings | None = None
    """Scheduled batch scoring. Default none."""


def alarm_name(endpoint: str, kind: str, metric: str) -> str:
    """`<endpoint>-<kind>-<metric>`, a fixed alarm name another account can match by ARN;
    cut to CloudWatch's 255 characters with a hash of the whole when longer."""
    # Feature names may hold spaces (breast-cancer's `mean radius`): keep names to one word.
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{endpoint}-{kind}-{metric}")
    if len(name) <= 255:
        return name
    return f"{name[:246]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class EndpointServing(ServingSettings):
    """A serving entry with an endpoint: what `Settings.served()` yields."""

    endpoint: EndpointSettings


class ModelSettings(_Settings):
    """One model (`config/models/<name>.yaml`)."""

    name: ModelName
    pipeline: PipelineSettings
    registry: RegistrySettings = RegistrySettings()
    approval: ApprovalSettings
    retraining: RetrainingSettings = RetrainingSettings()
    environments: dict[EnvironmentName, ServingSettings | None] = {}
    """Environment -> how the model is served there; `null` or absent: not served."""

    @model_validator(mode="after")
    def _defaults_from_the_name(self) -> ModelSettings:
        # Frozen: fill the names derived from the model's name in place, once.
        object.__setattr__(
            self, "pipeline", self.pipeline.model_copy(update={"name": self.pipeline_name})
        )
        object.__setattr__(
            self,
            "registry",
            self.registry.model_copy(update={"model_package_group_name": self.group}),
        )
        served = {
            env: self._named(env, serving) if serving is not None else None
            for env, serving in self.environments.items()
        }
        object.__setattr__(self, "environments", served)
        return self

    def _named(self, env: str, serving: ServingSettings) -> ServingSettings:
        """`serving` with the endpoint's name and the batch prefixes filled in."""
        update: dict[str, Any] = {}
        if serving.endpoint is not None:
            name = serving.endpoint.name or f"{self.name}-{env}"
            update["endpoint"] = serving.endpoint.model_copy(update={"name": name})
        if serving.batch is not None:
            update["batch"] = serving.batch.model_copy(
                update={
                    "input_prefix": serving.batch.input_prefix or f"batch/{self.name}/input/",
                    "output_prefix": serving.batch.output_prefix or f"batch/{self.name}/output/",
                }
            )
        return serving.model_copy(update=update)

    @property
    def pipeline_name(self) -> str:
        return self.pipeline.name or self.name

    @property
    def group(self) -> str:
        """The model package group's name."""
        return self.registry.model_package_group_name or self.name

    def serving(self, environment: str) -> ServingSettings | None:
        """How the model is served in `environment`, or None if it is not."""
        return self.environments.get(environment)

    def model_quality_problem_type(self, quality: ModelQualitySettings) -> ProblemType | None:
        """The problem type of a model-quality monitor: its own, else the approval's."""
        return quality.problem_type or self.approval.problem_type

    def ground_truth_prefix(self, environment: str) -> str:
        """Where the labels of the model served in `environment` go (empty: not watched)."""
        serving = self.serving(environment)
        if serving is None or serving.endpoint is None or serving.monitoring is None:
            return ""
        quality = serving.monitoring.model_quality
        if quality is None:
            return ""
        return quality.ground_truth_prefix or GROUND_TRUTH_PREFIX.format(
            endpoint=serving.endpoint.name
        )

    def retraining_alarm_names(self, environment: str) -> list[str]:
        """The fixed names of the alarms that start the pipeline when they fire in
        `environment` (`retraining.on_alarms`): the deploy stack names its alarms so, and
        the build stack matches them by ARN without a cross-account reference."""
        on_alarms = self.retraining.on_alarms
        serving = self.serving(environment)
        if on_alarms is None or environment not in on_alarms.environments:
            return []
        if serving is None or serving.endpoint is None:
            return []  # alarms watch endpoints
        monitoring = serving.monitoring
        endpoint = serving.endpoint.name
        names = []
        if monitoring is not None and "drift" in on_alarms.alarms:
            names += [alarm_name(endpoint, "drift", f) for f in monitoring.drift_features]
        quality = monitoring.model_quality if monitoring is not None else None
        if quality is not None and "model_quality" in on_alarms.alarms:
            names += [alarm_name(endpoint, "model-quality", m) for m in quality.thresholds]
        return names


class EnvironmentSettings(_Settings):
    """One deploy environment's account (`config/<name>.yaml`)."""

    account: AccountId
    region: Region
    removal_policy: Literal["retain", "destroy"] = "retain"
    vpc: VpcSettings | None = None
    """Every model and monitoring job served here runs in these subnets and security
    groups (a model's `endpoint.vpc` replaces it; `null` there opts out). Default: none."""


Version = Annotated[int, Field(gt=0, strict=True)]


class PromotionManifest(_Settings):
    """`config/promotion.yaml`: model -> environment -> pinned package version (or null)."""

    models: dict[ModelName, dict[EnvironmentName, Version | None]]

    def version(self, model: str, environment: str) -> int | None:
        """The version `model` serves in `environment` (None: nothing pinned)."""
        return self.models.get(model, {}).get(environment)


class Settings(_Settings):
    """Everything the reference app needs, validated together."""

    build: BuildSettings
    environments: dict[str, EnvironmentSettings]
    models: dict[str, ModelSettings]
    promotion: PromotionManifest
    config_dir: Path = CONFIG_DIR
    reader_accounts: list[str] = []
    """Every deploy account other than the build account (of every environment file)."""
    environment_accounts: dict[str, str] = {}
    """Every environment's account, by name (of every environment file, whichever
    environments are loaded): the build side names the accounts alarms come from."""

    def model_file(self, model: str) -> str:
        """The model's settings file, as errors show it (relative to the working folder
        when below it)."""
        return shown_path(self.config_dir / MODELS_DIR / f"{model}.yaml")

    def served(self, environment: str) -> list[tuple[ModelSettings, EndpointServing, int]]:
        """Each model served by an endpoint in `environment` with a pinned version, with
        both (a batch-only model is not: see `batched`)."""
        found = []
        for model in self.models.values():
            serving = model.serving(environment)
            version = self.promotion.version(model.name, environment)
            if serving is not None and serving.endpoint is not None and version is not None:
                values = {name: getattr(serving, name) for name in type(serving).model_fields}
                entry = EndpointServing.model_construct(serving.model_fields_set, **values)
                found.append((model, entry, version))
        return found

    def batched(self, environment: str) -> list[tuple[ModelSettings, BatchSettings, int]]:
        """Each model scored in batch in `environment` with a pinned version, with both."""
        found = []
        for model in self.models.values():
            serving = model.serving(environment)
            version = self.promotion.version(model.name, environment)
            if serving is not None and serving.batch is not None and version is not None:
                found.append((model, serving.batch, version))
        return found


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


_UNION_TAGS = ("instance", "serverless")


def _describe(errors: ValidationError, path: Path) -> str:
    lines = []
    for err in errors.errors():
        # Union members are tagged by kind; the tag is not a key of the file.
        key = ".".join(str(p) for p in err["loc"] if p not in _UNION_TAGS) or "(top level)"
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


def load_settings(
    config_dir: Path = CONFIG_DIR,
    environments: list[str] | None = None,
    models: list[str] | None = None,
) -> Settings:
    """Load build, environment, model and promotion settings from `config_dir`.

    `environments` limits the deploy environments loaded (default: every `<name>.yaml`
    beside `build.yaml`) and `models` the models (default: every `models/<name>.yaml`);
    an unknown name fails with the known ones.
    """
    known = sorted(
        p.stem for p in config_dir.glob("*.yaml") if p.name not in (BUILD_FILE, PROMOTION_FILE)
    )
    wanted = _choose("environment", known, environments, "config/<name>.yaml")
    build = parse(BuildSettings, _read_yaml(config_dir / BUILD_FILE), config_dir / BUILD_FILE)
    for name in known:
        _check_environment_name(name, config_dir / f"{name}.yaml")
    # Every environment is read: the build side grants all deploy accounts, whichever
    # environments this synth is limited to.
    every = {
        name: parse(
            EnvironmentSettings,
            _read_yaml(config_dir / f"{name}.yaml"),
            config_dir / f"{name}.yaml",
        )
        for name in known
    }
    envs = {name: every[name] for name in wanted}
    model_files = {p.stem: p for p in sorted((config_dir / MODELS_DIR).glob("*.yaml"))}
    chosen = _choose("model", sorted(model_files), models, "config/models/<name>.yaml")
    loaded = {name: _load_model(model_files[name], known) for name in chosen}
    manifest_path = config_dir / PROMOTION_FILE
    manifest = load_manifest(manifest_path)
    _check_manifest(manifest, manifest_path, known, sorted(model_files))
    if build.promotion_target not in known:
        raise ConfigurationError(
            f"{config_dir / BUILD_FILE}: promotion_target: got {build.promotion_target!r};"
            f" allowed one of the environments {known}"
        )
    _check_unique(loaded, config_dir)
    manifest = PromotionManifest(
        models={
            model: {env: v for env, v in pins.items() if env in wanted}
            for model, pins in manifest.models.items()
            if model in loaded
        }
    )
    return Settings(
        build=build,
        environments=envs,
        models=loaded,
        promotion=manifest,
        config_dir=config_dir,
        reader_accounts=sorted({e.account for e in every.values()} - {build.account}),
        environment_accounts={name: e.account for name, e in every.items()},
    )


def _check_environment_name(name: str, path: Path) -> None:
    """Environment names end stack ids (`mlops-<model>-<environment>`): one that could
    be read as part of a model's name, or as `build`, would make two stacks one."""
    if not re.fullmatch(r"[a-z][a-z0-9]{1,20}", name) or name == "build":
        raise ConfigurationError(
            f"{path}: the file name {name!r} is the environment's name; allowed 2-21"
            " lowercase letters and digits, starting with a letter, other than 'build'"
            " (stack ids end with it: mlops-<model>-<environment>)"
        )


def shown_path(path: Path) -> str:
    """`path` relative to the working folder when it is below it, else as it is."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _choose(kind: str, known: list[str], wanted: list[str] | None, file: str) -> list[str]:
    chosen = known if wanted is None else wanted
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ConfigurationError(
            f"unknown {kind}(s) {unknown}: no {file} for them; known {kind}s: {known}"
        )
    return list(chosen)


def _load_model(path: Path, environments: list[str]) -> ModelSettings:
    if not re.fullmatch(MODEL_NAME, path.stem) or len(path.stem) > MODEL_NAME_MAX:
        raise ConfigurationError(
            f"{path}: the file name {path.stem!r} is the model's name; allowed 1-"
            f"{MODEL_NAME_MAX} lowercase letters, digits and single hyphens, starting with a"
            " letter (every name AWS derives from it must stay short and valid)"
        )
    data = _read_yaml(path)
    if "name" in data:
        raise ConfigurationError(
            f"{path}: name: got {data['name']!r}; a model is named by its file"
            f" ({path.stem!r}): remove the key or rename the file"
        )
    model = parse(ModelSettings, {"name": path.stem, **data}, path)
    strays = sorted(set(model.environments) - set(environments))
    if strays:
        raise ConfigurationError(
            f"{path}: environments.{strays[0]}: no config/{strays[0]}.yaml; allowed one of"
            f" the environments {environments}"
        )
    _check_endpoint_or_batch(model, path)
    for env, serving in model.environments.items():
        if serving is not None and serving.monitoring and serving.monitoring.model_quality:
            key = f"environments.{env}.monitoring.model_quality"
            _check_model_quality(model, serving.monitoring.model_quality, path, key)
    _check_alarm_retraining(model, path, environments)
    return model


def _check_endpoint_or_batch(model: ModelSettings, path: Path) -> None:
    """A serving entry has an endpoint, a batch schedule or both; the endpoint's own
    settings (`alarms`, `monitoring`) only beside an endpoint."""
    for env, serving in model.environments.items():
        if serving is None or serving.endpoint is not None:
            continue
        key = f"environments.{env}"
        if serving.batch is None:
            raise ConfigurationError(
                f"{path}: {key}: got neither endpoint nor batch; allowed an endpoint, a batch"
                " or both (`null` or no entry: not served there)"
            )
        for setting in ("alarms", "monitoring"):
            if setting in serving.model_fields_set and getattr(serving, setting) is not None:
                raise ConfigurationError(
                    f"{path}: {key}.{setting}: got settings without an endpoint; allowed only"
                    f" beside endpoint (batch scoring is monitored by batch.monitoring)"
                )


def _check_model_quality(
    model: ModelSettings, quality: ModelQualitySettings, path: Path, key: str
) -> None:
    """A problem type (its own or the approval's), thresholds on that problem type's
    metrics, and the attributes that problem type reads."""
    problem = model.model_quality_problem_type(quality)
    if problem is None:
        raise ConfigurationError(
            f"{path}: {key}.problem_type: required setting is missing; allowed one of"
            f" {list(REPORT_METRICS)} (or approval.problem_type)"
        )
    known = REPORT_METRICS[problem]
    for metric in quality.thresholds:
        if metric not in known:
            raise ConfigurationError(
                f"{path}: {key}.thresholds.{metric}: got {metric!r}; allowed a {problem}"
                f" metric: {', '.join(sorted(known))}"
            )
    if problem != "binary_classification":
        for name in ("probability_attribute", "probability_threshold"):
            value = getattr(quality, name)
            if value is not None:
                raise ConfigurationError(
                    f"{path}: {key}.{name}: got {value!r}; allowed null with {problem}"
                    " (binary_classification only)"
                )


def _check_alarm_retraining(model: ModelSettings, path: Path, environments: list[str]) -> None:
    """Each environment `retraining.on_alarms` names exists and, where the model is
    served (`null` there: nothing to watch yet), has monitoring that makes at least one
    of the alarms it asks for."""
    on_alarms = model.retraining.on_alarms
    if on_alarms is None:
        return
    for index, env in enumerate(on_alarms.environments):
        key = f"retraining.on_alarms.environments.{index}"
        if env not in environments:
            raise ConfigurationError(
                f"{path}: {key}: got {env!r}, which has no config/{env}.yaml; allowed one of"
                f" the environments {environments}"
            )
        serving = model.serving(env)
        if serving is None or serving.endpoint is None:
            continue  # not served by an endpoint there: no alarms to watch
        if not model.retraining_alarm_names(env):
            raise ConfigurationError(
                f"{path}: {key}: got {env!r}, where the model has no {on_alarms.alarms}"
                " alarms; allowed an environment with monitoring.drift_features (drift) or"
                " monitoring.model_quality.thresholds (model_quality)"
            )


def _check_manifest(
    manifest: PromotionManifest, path: Path, environments: list[str], models: list[str]
) -> None:
    """Pins name known models and environments, and every model has a line for every
    environment (`null` until a version is approved): the approval function edits that
    line, so it must exist before the model's first approval."""
    for model, pins in manifest.models.items():
        if model not in models:
            raise ConfigurationError(
                f"{path}: models.{model}: no config/models/{model}.yaml; allowed one of the"
                f" models {models}"
            )
        for env in pins:
            if env not in environments:
                raise ConfigurationError(
                    f"{path}: models.{model}.{env}: no config/{env}.yaml; allowed one of the"
                    f" environments {environments}"
                )
    for model in models:
        missing = [env for env in environments if env not in manifest.models.get(model, {})]
        if missing:
            lines = "".join(f" {env}: null," for env in missing).rstrip(",")
            raise ConfigurationError(
                f"{path}: models.{model}: no pin for {missing}; allowed a version or null for"
                f" every environment (add `{model}: {{{lines.strip()}}}` under models:)"
            )


def _check_unique(models: Mapping[str, ModelSettings], config_dir: Path) -> None:
    """Names AWS needs unique per account and region must not repeat across model files."""
    seen: dict[tuple[str, str], str] = {}
    for model in models.values():
        where = f"{config_dir / MODELS_DIR / model.name}.yaml"
        names = [
            ("pipeline.name", model.pipeline_name),
            ("registry.model_package_group_name", model.group),
        ] + [
            (f"environments.{env}.endpoint.name", f"{env}/{serving.endpoint.name}")
            for env, serving in model.environments.items()
            if serving is not None and serving.endpoint is not None
        ]
        for key, name in names:
            kind = key.rsplit(".", 1)[-1]
            name = name.lower()  # SageMaker compares these names case-insensitively
            other = seen.get((kind, name))
            if other is not None:
                shown = name.split("/", 1)[-1]
                raise ConfigurationError(
                    f"{where}: {key}: got {shown!r}, which {other} uses already; allowed a"
                    " name no other model uses"
                )
            seen[(kind, name)] = f"{where} ({key})"
    _check_stack_ids(models, config_dir)


def _check_stack_ids(models: Mapping[str, ModelSettings], config_dir: Path) -> None:
    """A model named `<other>-batch` would take `<other>`'s batch stack id
    (`mlops-<model>-<environment>` and `mlops-<model>-batch-<environment>`, app.py)."""
    for model in models.values():
        for env, serving in model.environments.items():
            if serving is None or serving.batch is None:
                continue
            other = models.get(f"{model.name}-batch")
            theirs = other.serving(env) if other is not None else None
            if theirs is not None and theirs.endpoint is not None:
                where = f"{config_dir / MODELS_DIR / model.name}.yaml"
                raise ConfigurationError(
                    f"{where}: environments.{env}.batch: got stack id"
                    f" mlops-{model.name}-batch-{env}, which model {model.name}-batch's"
                    f" endpoint stack uses already; allowed a batch stack id no other stack"
                    f" uses (rename model {model.name}-batch)"
                )
