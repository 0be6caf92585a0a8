"""What a pipeline definition's steps need from their execution role (no constructs).

`analyze(definition)` walks every step (condition and ForEach bodies included, at any
depth) and returns the AWS resources each step type acts on, every IAM role, S3 URI,
queue and container image the definition names, each with its JSON path. Values that
are pipeline expressions count through their literal parts: a `Std:Join` by its text up
to the first non-literal value, a `Get: Parameters.X` by the parameter's default value.
`refuse` raises the `SageMakerPipeline` error the pipeline modules share.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from constructs_lib import placeholders
from constructs_lib._validate import Checks, Shown
from constructs_lib.vpc_config import NETWORK_INTERFACE_ACTIONS as VPC_PERMISSIONS

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

_FUNCTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,140}(:[A-Za-z0-9$_-]{1,128})?$"
)
_ECR_IMAGE = re.compile(
    r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+?)(?=[:@\"])"
)
_ECR_REPOSITORY = re.compile(r"\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+?)(?:[:@]|$)")
IMAGE_KEYS = ("ImageUri", "TrainingImage", "Image", "RuleEvaluatorImage")
"""Keys whose value is a container image URI (AppSpecification, AlgorithmSpecification,
containers, Debugger and Profiler rules)."""
NESTED_STEP_LISTS = {"Condition": ("IfSteps", "ElseSteps"), "ForEach": ("ForEachBody",)}
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


def refuse(prop: str, got: str, allowed: str) -> NoReturn:
    """Raise `SageMakerPipeline <prop>: got <got>; allowed <allowed>` (ConfigurationError)."""
    check = Checks("SageMakerPipeline")
    check.fail(prop, Shown(got), allowed)
    check.done()
    raise AssertionError("unreachable")


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
        """Whether the value names where a job writes (an output or checkpoint location)."""
        return "Output" in self.path or "Checkpoint" in self.path


@dataclass(frozen=True)
class QueueReference:
    """A Callback step's queue: its URL text and, for a literal URL, (region, account, name)."""

    step: str
    path: str
    url: str
    address: tuple[str, str, str] | None


@dataclass(frozen=True)
class ImageReference:
    """A container image URI known only at deploy or run time (a token or an expression)."""

    step: str
    step_type: str
    path: str
    text: str
    """The literal text (CDK token text included) the URI starts with."""
    repository_name: str | None
    """The repository name the URI's literal end gives, if any."""


@dataclass
class StepNeeds:
    """The resources the definition's steps act on (literal text or CDK token text)."""

    jobs: dict[str, set[str]] = field(default_factory=dict)
    """IAM resource type of each job kind -> step types that start it."""
    models: bool = False
    """A Model step creates models."""
    clarify_models: set[str] = field(default_factory=set)
    """Models ClarifyCheck steps host on a temporary shadow endpoint (`sm-clarify-*`):
    a literal name, or `pipelines-*` for a model a Model step of the pipeline creates."""
    model_package_groups: set[str] = field(default_factory=set)
    """Groups RegisterModel steps register into (ModelPackageGroupName)."""
    functions: set[str] = field(default_factory=set)
    """Lambda steps' FunctionArn."""
    queues: list[QueueReference] = field(default_factory=list)
    """Callback steps' queues."""
    emr_clusters: set[str] = field(default_factory=set)
    """EMR steps' ClusterId."""
    emr_serverless_applications: set[str] = field(default_factory=set)
    """EMRServerless steps' ApplicationId."""
    roles: list[Reference] = field(default_factory=list)
    """Every role other than `placeholders.ROLE_ARN`: text with `:iam::` and `:role/`, or
    any value under a `*RoleArn` key."""
    s3: list[Reference] = field(default_factory=list)
    """Every S3 URI other than step-source placeholders."""
    images: list[ImageReference] = field(default_factory=list)
    """Every image URI known only at deploy or run time."""
    vpc_steps: list[str] = field(default_factory=list)
    """Steps with a `VpcConfig` (each naming only the pipeline's subnets and groups)."""


def all_steps(steps: Any, path: str = "Steps") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every step with its JSON path, including those nested in condition branches and
    ForEach bodies."""
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        here = f"{path}[{index}]"
        yield here, step
        args = step.get("Arguments")
        kind = step.get("Type")
        if isinstance(args, dict) and isinstance(kind, str):
            for branch in NESTED_STEP_LISTS.get(kind, ()):
                yield from all_steps(args.get(branch), f"{here}.Arguments.{branch}")


def analyze(
    definition: Mapping[str, Any], vpc: tuple[Sequence[str], Sequence[str]] | None = None
) -> StepNeeds:
    """What the definition's steps need; raises `DefinitionStepError` for a step it cannot
    cover. `vpc` is the pipeline's (subnet ids, security group ids): with it, every job
    step must run in those (and only those); without it, no step may name a VpcConfig."""
    defaults = parameter_defaults(definition)
    needs = StepNeeds()
    for path, step in all_steps(definition.get("Steps")):
        name, kind = str(step.get("Name")), str(step.get("Type"))
        args = step.get("Arguments")
        args = args if isinstance(args, dict) else {}
        where = f"step {name!r} ({kind}) at {path}"
        if _check_vpc(args, path, where, kind, vpc):
            needs.vpc_steps.append(name)
        if kind in JOB_STEPS:
            needs.jobs.setdefault(JOB_STEPS[kind], set()).add(kind)
            model = step.get("ModelName")
            if kind == "ClarifyCheck" and model is not None:
                literal = isinstance(model, str) and _TOKEN not in model
                needs.clarify_models.add(model.lower() if literal else "pipelines-*")
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
            if not isinstance(function, str) or not (
                _TOKEN in function or _FUNCTION_ARN.match(function)
            ):
                raise DefinitionStepError(
                    f"{where}: FunctionArn {function!r}",
                    "a Lambda function ARN (arn:<partition>:lambda:<region>:<account>:function:"
                    "<name>[:<version or alias>]) or a CDK token such as function.function_arn",
                )
            needs.functions.add(function)
        elif kind == "Callback":
            needs.queues.append(_queue(step.get("SqsQueueUrl"), name, f"{path}.SqsQueueUrl", where))
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
    needs.images = image_references(definition)
    return needs


def _check_vpc(
    args: Mapping[str, Any],
    path: str,
    where: str,
    kind: str,
    vpc: tuple[Sequence[str], Sequence[str]] | None,
) -> bool:
    """Whether the step names a VpcConfig, each one within `vpc`; raises
    `DefinitionStepError` for one outside it, any with no `vpc`, and a job step without
    one when there is a `vpc`."""
    found = list(_keyed(args, f"{path}.Arguments", "VpcConfig"))
    if found and vpc is None:
        raise DefinitionStepError(
            f"{where}: VpcConfig at {found[0][0]}",
            "steps without VpcConfig, or vpc= the VpcConfig the steps use (the created role"
            " then gets the network-interface permissions SageMaker documents:"
            f" {', '.join(VPC_PERMISSIONS)})",
        )
    if vpc is None:
        return False
    subnets, groups = vpc
    for at, value in found:
        value = value if isinstance(value, dict) else {}
        for key, listed in (("Subnets", subnets), ("SecurityGroupIds", groups)):
            given = value.get(key)
            if not isinstance(given, list) or not given or any(v not in listed for v in given):
                raise DefinitionStepError(
                    f"{where}: VpcConfig.{key} {given!r} at {at}",
                    f"a non-empty list of the vpc's {key} {list(listed)!r}",
                )
    if not found and kind in JOB_STEPS:
        raise DefinitionStepError(
            f"{where}: no VpcConfig",
            "every job step in the VPC given as vpc= (its subnets and security groups)",
        )
    return bool(found)


def parameter_defaults(definition: Mapping[str, Any]) -> dict[Any, Any]:
    """Pipeline parameter name -> default value."""
    return {
        p.get("Name"): p.get("DefaultValue")
        for p in definition.get("Parameters", []) or []
        if isinstance(p, dict)
    }


def _references(
    needs: StepNeeds, name: str, kind: str, step: Any, path: str, defaults: Mapping[Any, Any]
) -> None:
    """Record every role and S3 URI in `step` (nested steps are visited on their own)."""
    for where, value in _values(step, path):
        text, complete = literal_prefix(value, defaults)
        other = text.replace(placeholders.ROLE_ARN, "")  # the pipeline's role is granted
        if _key_of(where).lower().endswith("rolearn") or (":iam::" in other and ":role/" in other):
            if not (complete and text == placeholders.ROLE_ARN):
                needs.roles.append(Reference(name, kind, where, text, complete))
        elif text.startswith("s3://") and not placeholders.STEP_SOURCE_PATTERN.match(text):
            needs.s3.append(Reference(name, kind, where, text, complete))


def image_references(
    definition: Mapping[str, Any], step_type: str | None = None
) -> list[ImageReference]:
    """Image URIs that are not literal ECR URIs (of steps of `step_type`, when given)."""
    defaults = parameter_defaults(definition)
    found = []
    for path, step in all_steps(definition.get("Steps")):
        kind = str(step.get("Type"))
        if step_type not in (None, kind):
            continue
        for where, value in _values(step, path):
            text, complete = literal_prefix(value, defaults)
            if _key_of(where) in IMAGE_KEYS and _deploy_time(value, text, complete):
                found.append(
                    ImageReference(
                        str(step.get("Name")), kind, where, text, _repository_name(value, defaults)
                    )
                )
    return found


def literal_ecr_repositories(
    definition: Mapping[str, Any], step_type: str | None = None
) -> list[tuple[str, str, str]]:
    """(account, region, repository) of every literal ECR image URI in the steps (of
    `step_type`, when given), sorted."""
    steps = [
        s for _p, s in all_steps(definition.get("Steps")) if step_type in (None, s.get("Type"))
    ]
    return sorted(set(_ECR_IMAGE.findall(json.dumps(steps))))


def _deploy_time(value: Any, text: str, complete: bool) -> bool:
    """Whether a value is known only at deploy or run time: a token, or an expression
    (a parameter's default may be overridden when an execution starts)."""
    return not isinstance(value, str) or not complete or _TOKEN in text


def _key_of(path: str) -> str:
    """The last key of a JSON path (`A.B[2]` -> `B`)."""
    return re.sub(r"(\[\d+\])+$", "", path.rsplit(".", 1)[-1])


def _keyed(value: Any, path: str, key: str) -> Iterator[tuple[str, Any]]:
    """Every value under `key` at any depth of `value` (nested steps left out)."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name in ("IfSteps", "ElseSteps", "ForEachBody"):
                continue
            here = f"{path}.{name}"
            if name == key:
                yield here, item
            yield from _keyed(item, here, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _keyed(item, f"{path}[{index}]", key)


def _values(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Leaf strings and pipeline expressions (Join/Get), with their JSON paths."""
    if isinstance(value, str) or _is_expression(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("IfSteps", "ElseSteps", "ForEachBody"):
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


def _literal_suffix(value: Any, defaults: Mapping[Any, Any]) -> str:
    """The text `value` ends with at synth time (a `Std:Join`'s trailing literal values)."""
    if not (isinstance(value, dict) and isinstance(value.get("Std:Join"), dict)):
        text, complete = literal_prefix(value, defaults)
        return text if complete else ""
    join = value["Std:Join"]
    separator = str(join.get("On", ""))
    parts: list[str] = []
    for item in reversed(join.get("Values", []) or []):
        text, complete = literal_prefix(item, defaults)
        if not complete:
            return separator + separator.join(reversed(parts)) if parts else ""
        parts.append(text)
    return separator.join(reversed(parts))


def _repository_name(value: Any, defaults: Mapping[Any, Any]) -> str | None:
    match = _ECR_REPOSITORY.search(_literal_suffix(value, defaults))
    return match.group(1) if match else None


def _literal_value(value: Any, defaults: Mapping[Any, Any]) -> str | None:
    text, complete = literal_prefix(value, defaults)
    return text if complete and text else None


def _queue(url: Any, step: str, path: str, where: str) -> QueueReference:
    if isinstance(url, str) and _TOKEN in url:
        return QueueReference(step, path, url, None)
    match = _QUEUE_URL.match(url) if isinstance(url, str) else None
    if not match:
        raise DefinitionStepError(
            f"{where}: SqsQueueUrl {url!r}",
            "an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) or a CDK"
            " token such as queue.queue_url",
        )
    address = (match.group(1) or match.group(2), match.group(3), match.group(4))
    return QueueReference(step, path, str(url), address)


def split_s3(ref: Reference) -> tuple[str | None, str | None]:
    """(bucket, key prefix) of an `s3://` reference; None where synth cannot know it."""
    rest = ref.text[len("s3://") :]
    if "/" not in rest:
        return (rest, "") if ref.complete and rest else (None, None)
    bucket, key = rest.split("/", 1)
    return bucket, key


def may_be_under(key: str | None, prefix: str, complete: bool) -> bool:
    """Whether `key` (or, if incomplete, some key starting with it) is under `prefix`."""
    if key is None:
        return True
    if key.startswith(prefix):
        return True
    # `s3://bucket/pipelines/p` names the folder too; an incomplete key may continue into it.
    return prefix.startswith(key) and (not complete or prefix[len(key) :] == "/")
