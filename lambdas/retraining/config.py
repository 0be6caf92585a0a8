"""Settings of the retraining trigger, read from its environment variables.

Required:

- ``PIPELINE_NAME``: the SageMaker pipeline to start.
- ``MIN_INTERVAL_SECONDS``: a start is skipped when the pipeline's last execution
  started less than this many seconds ago (a whole number, 0 or more).

Optional:

- ``PIPELINE_PARAMETERS``: JSON object of pipeline parameter name -> str value passed to
  every start. Default ``{}`` (the definition's defaults).
- ``TRIGGER_PARAMETER``: name of a pipeline parameter that receives
  ``<alarm name>: <state reason>`` (cut to 1,024 characters). Empty or unset: none.
- ``NOTIFICATION_TOPIC_ARN``: SNS topic told of every start and skip. Empty or unset:
  the outcome is only logged.

A missing or invalid value raises `ConfigError` naming the variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigError

_PIPELINE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_PARAMETER = re.compile(r"^[A-Za-z0-9\-_]{1,256}$")
MAX_PARAMETER_VALUE = 1024
"""StartPipelineExecution's limit on a parameter value (botocore `Parameter.Value`)."""


@dataclass(frozen=True)
class Config:
    """Validated settings; see the module docstring for each one."""

    pipeline_name: str
    min_interval_seconds: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    trigger_parameter: str | None = None
    notification_topic_arn: str | None = None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name}: required environment variable is missing or empty")
    return value


def _parameters(raw: str) -> dict[str, str]:
    allowed = 'expected a JSON object of parameter name -> str value, e.g. {"TrainInstanceType": "ml.m5.xlarge"}'
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(f"PIPELINE_PARAMETERS: got {raw!r}; not valid JSON; {allowed}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and _PARAMETER.match(k) and isinstance(v, str) for k, v in data.items()
    ):
        raise ConfigError(f"PIPELINE_PARAMETERS: got {raw!r}; {allowed}")
    return data


def load_config(env: Mapping[str, str]) -> Config:
    """Read and validate the settings from `env` (normally `os.environ`)."""
    pipeline = _required(env, "PIPELINE_NAME")
    if not _PIPELINE.match(pipeline):
        raise ConfigError(f"PIPELINE_NAME: got {pipeline!r}; expected a pipeline name")
    raw_interval = _required(env, "MIN_INTERVAL_SECONDS")
    if not raw_interval.isdigit():
        raise ConfigError(
            f"MIN_INTERVAL_SECONDS: got {raw_interval!r}; expected a whole number of seconds"
        )
    parameters = _parameters(env.get("PIPELINE_PARAMETERS", "").strip() or "{}")
    trigger = env.get("TRIGGER_PARAMETER", "").strip() or None
    if trigger is not None and not _PARAMETER.match(trigger):
        raise ConfigError(f"TRIGGER_PARAMETER: got {trigger!r}; expected a parameter name")
    if trigger is not None and trigger in parameters:
        raise ConfigError(
            f"TRIGGER_PARAMETER: got {trigger!r}, which PIPELINE_PARAMETERS also sets;"
            " expected a parameter set by one of them only"
        )
    topic = env.get("NOTIFICATION_TOPIC_ARN", "").strip() or None
    if topic is not None and not (topic.startswith("arn:") and ":sns:" in topic):
        raise ConfigError(f"NOTIFICATION_TOPIC_ARN: got {topic!r}; expected an SNS topic ARN")
    return Config(
        pipeline_name=pipeline,
        min_interval_seconds=int(raw_interval),
        parameters=parameters,
        trigger_parameter=trigger,
        notification_topic_arn=topic,
    )
