"""What a pipeline definition's steps need from their execution role (pure, no CDK).

`analyze(definition)` walks every step (condition branches included, at any depth) and
returns the AWS resources each step type acts on, every IAM role ARN and every S3 URI the
definition names, each with its JSON path. Values that are pipeline expressions count
through their literal parts: a `Std:Join` by its text up to the first non-literal value,
a `Get: Parameters.X` by the parameter's default value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from constructs_lib import placeholders

JOB_STEPS: dict[str, str] = {
    "Processing": "processing-job",
    "QualityCheck": "processing-job",
    "ClarifyCheck": "processing-job",
    "Training": "training-job",
    "Tuning": "hyper-parameter-tuning-job",
    "Transform": "transform-job",
    "AutoML": "automl-job",
}
"""Step types that start one SageMaker job, and the job's IAM resource type."""

OTHER_STEPS = ("Model", "RegisterModel", "Lambda", "Callback", "EMR", "EMRServerless")
"""Step types the created role covers besides jobs (see `StepNeeds`)."""

NO_PERMISSION_STEPS = ("Condition", "Fail")
"""Step types that call no AWS API."""

SUPPORTED_STEPS = (*JOB_STEPS, *OTHER_STEPS, *NO_PERMISSION_STEPS)

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/")
_QUEUE_URL = re.compile(
    r"^https://(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?/(\d{12})/([^/]+)$"
)
_TOKEN = "${Token["  # noqa: S105 (CDK token text, not a secret)


class DefinitionStepError(Exception):
    """A definition the created role cannot be derived for; `str()` says where and why."""

    def __init__(self, got: str, allowed: str) -> None:
        super().__init__(f"{got}; allowed {allowed}")
        self.got = got
        self.allowed = allowed


@dataclass(frozen=True)
class Reference:
    """A role ARN or S3 URI found in a step, with the step's name and its JSON path."""

    step: str
    step_type: str
    path: str
    text: str
    """The literal text (a role ARN, or an `s3://` URI's literal prefix)."""
    complete: bool = True
    """False when only a prefix of the value is known at synth time."""

    @property
    def is_output(self) -> bool:
        """Whether the value names where a job writes (an output location)."""
        return "Output" in self.path


@dataclass
class StepNeeds:
    """The resources the definition's steps act on (literal text or CDK token text)."""

    jobs: dict[str, set[str]] = field(default_factory=dict)
    """IAM resource type of each job kind -> step types that start it."""
    models: bool = False
    """A Model step creates models."""
    model_package_groups: set[str] = field(default_factory=set)
    """Groups RegisterModel steps register into (ModelPackageGroupName)."""
    functions: set[str] = field(default_factory=set)
    """Lambda steps' FunctionArn."""
    queues: set[tuple[str, str, str]] = field(default_factory=set)
    """Callback steps' queues as (region, account, name), or ("", "", url) for a token URL."""
    emr_clusters: set[str] = field(default_factory=set)
    """EMR steps' ClusterId."""
    emr_serverless_applications: set[str] = field(default_factory=set)
    """EMRServerless steps' ApplicationId."""
    roles: list[Reference] = field(default_factory=list)
    """Every role ARN other than `placeholders.ROLE_ARN`."""
    s3: list[Reference] = field(default_factory=list)
    """Every S3 URI other than step-source placeholders."""


def all_steps(steps: Any, path: str = "Steps") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every step with its JSON path, including those nested in condition branches."""
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        here = f"{path}[{index}]"
        yield here, step
        args = step.get("Arguments")
        if step.get("Type") == "Condition" and isinstance(args, dict):
            for branch in ("IfSteps", "ElseSteps"):
                yield from all_steps(args.get(branch), f"{here}.Arguments.{branch}")


def analyze(definition: Mapping[str, Any]) -> StepNeeds:
    """What the definition's steps need; raises `DefinitionStepError` for a step it cannot cover."""
    defaults = {
        p.get("Name"): p.get("DefaultValue")
        for p in definition.get("Parameters", []) or []
        if isinstance(p, dict)
    }
    needs = StepNeeds()
    for path, step in all_steps(definition.get("Steps")):
        name, kind = str(step.get("Name")), str(step.get("Type"))
        args = step.get("Arguments")
        args = args if isinstance(args, dict) else {}
        where = f"step {name!r} ({kind}) at {path}"
        if kind in JOB_STEPS:
            needs.jobs.setdefault(JOB_STEPS[kind], set()).add(kind)
        elif kind == "Model":
            needs.models = True
        elif kind == "RegisterModel":
            group = _literal_value(args.get("ModelPackageGroupName"), defaults)
            if group is None:
                raise DefinitionStepError(
                    f"{where}: ModelPackageGroupName {args.get('ModelPackageGroupName')!r}",
                    "a group name, a parameter with a default, or a CDK token",
                )
            needs.model_package_groups.add(group.rsplit("/", 1)[-1])
        elif kind == "Lambda":
            function = step.get("FunctionArn")
            if not isinstance(function, str):
                raise DefinitionStepError(
                    f"{where}: FunctionArn {function!r}", "a Lambda function ARN"
                )
            needs.functions.add(function)
        elif kind == "Callback":
            needs.queues.add(_queue(step.get("SqsQueueUrl"), where))
        elif kind == "EMR":
            if "ClusterConfig" in args or not isinstance(args.get("ClusterId"), str):
                raise DefinitionStepError(
                    f"{where}: an EMR step that creates its cluster (ClusterConfig)",
                    "EMR steps on a running cluster (ClusterId); for a new cluster pass role="
                    " an execution role allowed to run it",
                )
            needs.emr_clusters.add(args["ClusterId"])
        elif kind == "EMRServerless":
            application = args.get("ApplicationId")
            if not isinstance(application, str):
                raise DefinitionStepError(
                    f"{where}: an EMR Serverless step that creates its application",
                    "steps on an existing application (ApplicationId); otherwise pass role="
                    " an execution role allowed to create it",
                )
            needs.emr_serverless_applications.add(application)
        elif kind not in NO_PERMISSION_STEPS:
            raise DefinitionStepError(
                f"{where}: step type {kind!r}",
                f"step types {', '.join(SUPPORTED_STEPS)}; for other types pass role= an"
                " execution role that has every permission the steps need",
            )
        _references(needs, name, kind, step, path, defaults)
    return needs


def _references(
    needs: StepNeeds, name: str, kind: str, step: Any, path: str, defaults: Mapping[Any, Any]
) -> None:
    """Record every role ARN and S3 URI in `step` (nested steps are visited on their own)."""
    for where, value in _values(step, path):
        text, complete = literal_prefix(value, defaults)
        key = where.rsplit(".", 1)[-1]
        if _ROLE_ARN.match(text) or (text.startswith(_TOKEN) and key.endswith("RoleArn")):
            if text != placeholders.ROLE_ARN:
                needs.roles.append(Reference(name, kind, where, text, complete))
        elif text.startswith("s3://") and not placeholders.STEP_SOURCE_PATTERN.match(text):
            needs.s3.append(Reference(name, kind, where, text, complete))


def _values(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Leaf strings and pipeline expressions (Join/Get), with their JSON paths."""
    if isinstance(value, str) or _is_expression(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("IfSteps", "ElseSteps"):
                continue
            yield from _values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _values(item, f"{path}[{index}]")


def _is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("Get" in value or "Std:Join" in value)


def literal_prefix(value: Any, defaults: Mapping[Any, Any]) -> tuple[str, bool]:
    """The text `value` starts with at synth time, and whether that is all of it."""
    if isinstance(value, str):
        # SDK v2 JSON-encodes hyperparameters ("\"s3://...\"").
        if len(value) > 1 and value[0] == value[-1] == '"':
            return value[1:-1], True
        return value, True
    if isinstance(value, dict) and isinstance(value.get("Get"), str):
        reference = value["Get"]
        if reference.startswith("Parameters."):
            default = defaults.get(reference.split(".", 1)[1])
            if isinstance(default, str):
                return default, True
        return "", False
    if isinstance(value, dict) and isinstance(value.get("Std:Join"), dict):
        join = value["Std:Join"]
        separator = join.get("On", "")
        text = ""
        for index, item in enumerate(join.get("Values", []) or []):
            part, complete = literal_prefix(item, defaults)
            text += (separator if index else "") + part
            if not complete:
                return text, False
        return text, True
    return "", False


def _literal_value(value: Any, defaults: Mapping[Any, Any]) -> str | None:
    text, complete = literal_prefix(value, defaults)
    return text if complete and text else None


def _queue(url: Any, where: str) -> tuple[str, str, str]:
    if isinstance(url, str) and _TOKEN in url:
        return ("", "", url)
    match = _QUEUE_URL.match(url) if isinstance(url, str) else None
    if not match:
        raise DefinitionStepError(
            f"{where}: SqsQueueUrl {url!r}",
            "an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) or a CDK"
            " token such as queue.queue_url",
        )
    return (match.group(1) or match.group(2), match.group(3), match.group(4))
