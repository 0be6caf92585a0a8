"""Settings of the approval function, read from its environment variables.

Required:

- ``MODEL_PACKAGE_GROUP_NAME``: the one model package group this function acts on;
  events about other groups are dead-lettered.
- ``APPROVAL_POLICY``: ``manual`` (evaluate, notify, leave the package pending) or
  ``auto`` (approve, reject, or leave pending and notify).
- ``QUALITY_THRESHOLDS``: JSON object, metric name -> bound, at least one metric, e.g.
  ``{"accuracy": {"minimum": 0.9}, "rmse": {"maximum": 3.5}}``. A bound is
  ``{"minimum": x}`` (higher is better; the value must be at least x) or
  ``{"maximum": x}`` (lower is better; at most x). A bare number is a minimum (the
  earlier format, ``{"accuracy": 0.9}``).
- ``PRIMARY_METRIC``: the metric a candidate must beat the champion on, e.g. ``accuracy``.
- ``NOTIFICATION_TOPIC_ARN``: SNS topic for summaries, rejections and promotion
  instructions.
- ``DEAD_LETTER_QUEUE_URL``: SQS queue URL for events that cannot be processed.

Optional:

- ``PRIMARY_METRIC_DIRECTION``: ``higher`` or ``lower``, which way the primary metric is
  better ("beats" means lower for rmse). Default: from the primary metric's threshold (a
  maximum means lower), else ``higher``.
- ``GITHUB_REPOSITORY``: ``owner/name`` to open promotion pull requests in. Empty or
  unset: no repository; the promotion instruction is published to SNS instead.
- ``GITHUB_TOKEN_SECRET_ARN``: Secrets Manager secret holding the token (the secret
  string is the token, or JSON ``{"token": "..."}``). Required with a repository.
- ``GITHUB_BASE_BRANCH``: branch pull requests target. Default ``main``.
- ``GITHUB_API_URL``: REST API root. Default ``https://api.github.com`` (GitHub Enterprise:
  ``https://HOST/api/v3``). Plain ``http://`` is accepted for localhost only.
- ``PROMOTION_MANIFEST_PATH``: manifest path in the repository. Default
  ``config/promotion.yaml``.
- ``PROMOTION_TARGET_ENVIRONMENT``: the environment an approved version is promoted to.
  Default ``staging``.
- ``PROMOTION_MODEL``: the model's key in the manifest (``models.<model>.<environment>``);
  a promotion changes only that model's pin. Default: the model package group name.

A missing or invalid value raises `ConfigError` naming the variable.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import ConfigError

_GROUP = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


Direction = Literal["higher", "lower"]
_BOUNDS: dict[str, Direction] = {"minimum": "higher", "maximum": "lower"}


@dataclass(frozen=True)
class Threshold:
    """A quality bar on one metric: a minimum (higher is better) or a maximum (lower)."""

    limit: float
    direction: Direction = "higher"

    @property
    def kind(self) -> str:
        """``minimum`` or ``maximum``."""
        return "minimum" if self.direction == "higher" else "maximum"

    def passes(self, value: float) -> bool:
        """Whether `value` clears the bar (the bound itself passes)."""
        return value >= self.limit if self.direction == "higher" else value <= self.limit


@dataclass(frozen=True)
class Config:
    """Validated settings; see the module docstring for each one."""

    model_package_group_name: str
    approval_policy: Literal["manual", "auto"]
    quality_thresholds: Mapping[str, Threshold]
    primary_metric: str
    notification_topic_arn: str
    dead_letter_queue_url: str
    github_repository: str | None = None
    github_token_secret_arn: str | None = None
    github_base_branch: str = "main"
    github_api_url: str = "https://api.github.com"
    promotion_manifest_path: str = "config/promotion.yaml"
    promotion_target_environment: str = "staging"
    primary_direction: Direction = "higher"
    promotion_model: str | None = None

    @property
    def model(self) -> str:
        """The model whose pin a promotion changes: `promotion_model`, else the group."""
        return self.promotion_model or self.model_package_group_name


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name}: required environment variable is missing or empty")
    return value


def _optional(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, "").strip() or default


def _check(ok: bool, name: str, value: str, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: got {value!r}; {allowed}")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _thresholds(raw: str) -> dict[str, Threshold]:
    name = "QUALITY_THRESHOLDS"
    allowed = (
        "expected a JSON object of metric name -> bound, e.g."
        ' {"accuracy": {"minimum": 0.9}, "rmse": {"maximum": 3.5}}'
    )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(f"{name}: got {raw!r}; not valid JSON; {allowed}") from None
    _check(isinstance(data, dict) and bool(data), name, raw, allowed)
    thresholds: dict[str, Threshold] = {}
    for metric, bound in data.items():
        problem = f"metric {metric!r} needs a finite number as its minimum or maximum; {allowed}"
        _check(bool(metric.strip()), name, raw, problem)
        if _finite(bound):  # the earlier format: a bare minimum
            thresholds[metric] = Threshold(float(bound))
            continue
        _check(
            isinstance(bound, dict)
            and len(bound) == 1
            and next(iter(bound)) in _BOUNDS
            and _finite(next(iter(bound.values()))),
            name,
            raw,
            problem,
        )
        (kind, limit), *_ = bound.items()
        thresholds[metric] = Threshold(float(limit), _BOUNDS[kind])
    return thresholds


def _api_url(raw: str) -> str:
    name = "GITHUB_API_URL"
    parts = urlsplit(raw)
    secure = parts.scheme == "https" and bool(parts.hostname)
    local = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
    _check(
        secure or local,
        name,
        raw,
        "expected an https:// URL (http:// only for localhost), e.g. https://api.github.com",
    )
    return raw.rstrip("/")


def load_config(env: Mapping[str, str]) -> Config:
    """Read and validate the settings from `env` (normally `os.environ`)."""
    group = _required(env, "MODEL_PACKAGE_GROUP_NAME")
    _check(
        bool(_GROUP.match(group)),
        "MODEL_PACKAGE_GROUP_NAME",
        group,
        "expected a model package group name (letters, digits, hyphens; 1-63)",
    )

    policy = _required(env, "APPROVAL_POLICY")
    _check(policy in ("manual", "auto"), "APPROVAL_POLICY", policy, "allowed: manual, auto")

    thresholds = _thresholds(_required(env, "QUALITY_THRESHOLDS"))
    primary = _required(env, "PRIMARY_METRIC")
    own = thresholds.get(primary)
    direction = _optional(
        env, "PRIMARY_METRIC_DIRECTION", own.direction if own is not None else "higher"
    )
    _check(
        direction in ("higher", "lower"),
        "PRIMARY_METRIC_DIRECTION",
        direction,
        "allowed: higher, lower",
    )

    topic = _required(env, "NOTIFICATION_TOPIC_ARN")
    _check(
        topic.startswith("arn:") and ":sns:" in topic,
        "NOTIFICATION_TOPIC_ARN",
        topic,
        "expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
    )

    queue = _required(env, "DEAD_LETTER_QUEUE_URL")
    _check(
        urlsplit(queue).scheme == "https",
        "DEAD_LETTER_QUEUE_URL",
        queue,
        "expected an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
    )

    repository = env.get("GITHUB_REPOSITORY", "").strip() or None
    secret = env.get("GITHUB_TOKEN_SECRET_ARN", "").strip() or None
    if repository is not None:
        _check(
            bool(_REPOSITORY.match(repository)),
            "GITHUB_REPOSITORY",
            repository,
            "expected owner/name, or empty for no repository",
        )
        if secret is None:
            raise ConfigError(
                "GITHUB_TOKEN_SECRET_ARN: required when GITHUB_REPOSITORY is set"
                f" ({repository!r}); give the ARN of the secret holding the GitHub token"
            )
    if secret is not None:
        _check(
            secret.startswith("arn:") and ":secretsmanager:" in secret,
            "GITHUB_TOKEN_SECRET_ARN",
            secret,
            "expected a Secrets Manager secret ARN",
        )

    branch = _optional(env, "GITHUB_BASE_BRANCH", "main")
    _check(
        bool(_BRANCH.match(branch)) and ".." not in branch,
        "GITHUB_BASE_BRANCH",
        branch,
        "expected a branch name, e.g. main",
    )

    manifest = _optional(env, "PROMOTION_MANIFEST_PATH", "config/promotion.yaml")
    _check(
        not manifest.startswith("/") and ".." not in manifest.split("/"),
        "PROMOTION_MANIFEST_PATH",
        manifest,
        "expected a path relative to the repository root, e.g. config/promotion.yaml",
    )

    target = _optional(env, "PROMOTION_TARGET_ENVIRONMENT", "staging")
    _check(
        bool(_ENVIRONMENT.match(target)),
        "PROMOTION_TARGET_ENVIRONMENT",
        target,
        "expected an environment name from the manifest, e.g. staging",
    )

    model = _optional(env, "PROMOTION_MODEL", group)
    _check(
        bool(_MODEL.match(model)),
        "PROMOTION_MODEL",
        model,
        "expected the model's key in the promotion manifest (letters, digits, '.', '_', '-';"
        " 1-63), e.g. tabular-classifier",
    )

    return Config(
        model_package_group_name=group,
        approval_policy="auto" if policy == "auto" else "manual",
        quality_thresholds=thresholds,
        primary_metric=primary,
        primary_direction="lower" if direction == "lower" else "higher",
        notification_topic_arn=topic,
        dead_letter_queue_url=queue,
        github_repository=repository,
        github_token_secret_arn=secret,
        github_base_branch=branch,
        github_api_url=_api_url(_optional(env, "GITHUB_API_URL", "https://api.github.com")),
        promotion_manifest_path=manifest,
        promotion_target_environment=target,
        promotion_model=model,
    )
