"""Reusable checks for a SageMaker Pipeline definition.

A pipeline definition is the JSON document carried by ``AWS::SageMaker::Pipeline``
(``PipelineDefinition.PipelineDefinitionBody``), here already parsed into a dict.
Three independent checks, each returning a list of human-readable error strings
(empty list means "no problem found"):

``check_api_shapes(definition)``
    Walks every step's ``Arguments`` together with the SageMaker API input shape
    that botocore ships (e.g. a ``Training`` step against
    ``CreateTrainingJobRequest``): unknown members, missing required members,
    wrong JSON types, enum values, string lengths/patterns, numeric and list
    bounds.  Pipeline expressions (``Get``, ``Std:Join``, ``Std:JsonGet``) are
    accepted wherever a scalar or a list is expected, and are themselves checked
    (well formed, and ``Parameters.X`` / ``Steps.X`` / ``Execution.X`` refer to
    something that exists).

``check_schema(definition, schema_path)``
    ``jsonschema.Draft7Validator`` against the public pipeline definition schema,
    with exactly four documented design allowances for places where the schema
    lags the SDK (see ``_apply_schema_lag_allowances``) and a closed, documented
    list of schema defects, places where the schema is older than the API or
    malformed (``SCHEMA_DEFECTS``: list-valued retry ExceptionType, ``Std:Join``,
    three RegisterModel members and the container Environment, Training
    OutputDataConfig.CompressionType).

``check_no_tokens(text)``
    No unresolved CDK token text (``${Token[...]}``, ``#{Token[...]}``, encoded
    number tokens, ...) in the rendered definition.

Error strings name the step (or ``definition`` for top-level problems), the
JSON path inside it and the problem, e.g.
``Train: Arguments.ResourceConfig.InstanceCount: expected integer, got 'x'``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs_lib._pipeline_steps import NESTED_STEP_LISTS, all_steps

__all__ = [
    "ALLOWED_ABSENT_REQUIRED",
    "EXPRESSION_FUNCTIONS",
    "SCHEMA_DEFECTS",
    "SCHEMA_PATH",
    "STEP_TYPE_INPUT_SHAPES",
    "SchemaDefect",
    "check_api_shapes",
    "check_no_tokens",
    "check_schema",
    "require_schema",
]

# ``<repo>/../shared/reference/pipeline-definition.schema.json``: the public schema
# lives beside the repository, not in it, and may be absent on some machines.
SCHEMA_PATH = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "reference"
    / "pipeline-definition.schema.json"
)


def require_schema(schema_path: Path = SCHEMA_PATH) -> Path:
    """Return ``schema_path``, or skip the calling test when the file is absent."""
    import pytest

    if not schema_path.is_file():
        pytest.skip(
            f"pipeline definition schema not found at {schema_path} "
            "(../shared/reference/ beside the repository is absent on this machine)"
        )
    return schema_path


# --------------------------------------------------------------------------------------
# Pipeline expressions
# --------------------------------------------------------------------------------------

# Every expression form the SageMaker Python SDK (v2 and v3) emits: ``Get`` (parameters,
# step properties, execution variables, experiment config, lambda/callback outputs,
# ForEach references), ``Std:Join`` (functions.Join) and ``Std:JsonGet``
# (functions.JsonGet, on a property file or an S3 URI).  There is no other ``Std:``
# function in the SDK (no ``Std:Select`` etc.).
EXPRESSION_FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")

# Roots a ``Get`` path may start with, and what follows them.
_EXECUTION_VARIABLES = frozenset(
    {
        "StartDateTime",
        "CurrentDateTime",
        "PipelineName",
        "PipelineArn",
        "PipelineExecutionId",
        "PipelineExecutionArn",
        "TrainingJobName",
        "ProcessingJobName",
    }
)
_EXPERIMENT_CONFIG_PROPERTIES = frozenset({"ExperimentName", "TrialName"})
# ``ForEach.CurrentItem...`` and ``IterationOutput.<step>...`` are v3 ForEach-step
# references, only meaningful inside a ForEach body; accepted without further checks.
_GET_ROOTS = ("Parameters", "Steps", "Execution", "PipelineExperimentConfig")
_FOREACH_GET_ROOTS = ("ForEach", "IterationOutput")
_GET_NAME = re.compile(r"([A-Za-z0-9_\-]+)")

_SCALAR = (str, int, float, bool)


def _expression_function(value: Any) -> str | None:
    """The function key if ``value`` looks like a pipeline expression, else None.

    Anything that is a one-key dict whose key is ``Get`` or starts with ``Std:``
    counts, so an unknown ``Std:Foo`` is reported as a bad expression rather than
    as a type mismatch.
    """
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if isinstance(key, str) and (key == "Get" or key.startswith("Std:")):
            return key
    return None


class _Refs:
    """Names an expression may refer to."""

    def __init__(self, definition: dict[str, Any]) -> None:
        params = definition.get("Parameters")
        self.parameters = {
            p["Name"]
            for p in (params if isinstance(params, list) else [])
            if isinstance(p, dict) and isinstance(p.get("Name"), str)
        }
        steps = definition.get("Steps")
        self.steps = {s["Name"] for _, s in all_steps(steps) if isinstance(s.get("Name"), str)}


def _check_expression(value: dict[str, Any], path: str, refs: _Refs, errors: list[str]) -> None:
    """Check one expression (``value`` is a one-key ``Get``/``Std:*`` dict)."""
    (func,) = value
    body = value[func]
    if func == "Get":
        _check_get(body, path, refs, errors)
    elif func == "Std:Join":
        if not isinstance(body, dict):
            errors.append(f"{path}: Std:Join expects an object, got {_show(body)}")
            return
        _unknown_keys(body, {"On", "Values"}, f"{path}.Std:Join", errors)
        if not isinstance(body.get("On", ""), str):
            errors.append(f"{path}.Std:Join.On: expected string, got {_show(body['On'])}")
        values = body.get("Values")
        if not isinstance(values, list):
            errors.append(f"{path}.Std:Join.Values: expected list, got {_show(values)}")
            return
        for i, item in enumerate(values):
            _check_join_or_scalar(item, f"{path}.Std:Join.Values[{i}]", refs, errors)
    elif func == "Std:JsonGet":
        if not isinstance(body, dict):
            errors.append(f"{path}: Std:JsonGet expects an object, got {_show(body)}")
            return
        where = f"{path}.Std:JsonGet"
        _unknown_keys(body, {"PropertyFile", "S3Uri", "Path"}, where, errors)
        if not isinstance(body.get("Path"), str) or not body["Path"]:
            errors.append(f"{where}.Path: expected a non-empty JSON path string")
        sources = [k for k in ("PropertyFile", "S3Uri") if k in body]
        if len(sources) != 1:
            errors.append(f"{where}: needs exactly one of PropertyFile or S3Uri, got {sources}")
        if "PropertyFile" in body:
            pf = body["PropertyFile"]
            get = pf.get("Get") if _expression_function(pf) == "Get" else None
            if not isinstance(get, str) or not re.fullmatch(
                r"Steps\.[A-Za-z0-9_\-]+\.PropertyFiles\.[A-Za-z0-9_\-]+", get
            ):
                errors.append(
                    f"{where}.PropertyFile: expected "
                    f"{{'Get': 'Steps.<step>.PropertyFiles.<name>'}}, got {_show(pf)}"
                )
            else:
                _check_get(get, f"{where}.PropertyFile", refs, errors)
        if "S3Uri" in body:
            uri = body["S3Uri"]
            if _expression_function(uri) in ("Get", "Std:Join"):
                _check_expression(uri, f"{where}.S3Uri", refs, errors)
            elif not isinstance(uri, str):
                errors.append(f"{where}.S3Uri: expected string or Get/Std:Join, got {_show(uri)}")
    else:
        errors.append(
            f"{path}: unknown pipeline expression function {func!r} "
            f"(known: {', '.join(EXPRESSION_FUNCTIONS)})"
        )


def _check_join_or_scalar(item: Any, path: str, refs: _Refs, errors: list[str]) -> None:
    if _expression_function(item):
        _check_expression(item, path, refs, errors)
    elif not isinstance(item, _SCALAR):
        errors.append(f"{path}: expected a scalar or a pipeline expression, got {_show(item)}")


def _check_get(body: Any, path: str, refs: _Refs, errors: list[str]) -> None:
    if not isinstance(body, str) or not body:
        errors.append(f"{path}: Get expects a non-empty string, got {_show(body)}")
        return
    root, _, rest = body.partition(".")
    if root in _FOREACH_GET_ROOTS and rest:
        return
    if root not in _GET_ROOTS or not rest:
        errors.append(
            f"{path}: Get {body!r} does not start with one of "
            f"{', '.join(r + '.' for r in _GET_ROOTS + _FOREACH_GET_ROOTS)}"
        )
        return
    match = _GET_NAME.match(rest)
    name = match.group(1) if match else ""
    if root == "Parameters" and (name != rest or name not in refs.parameters):
        errors.append(f"{path}: Get {body!r} refers to an undeclared pipeline parameter")
    elif root == "Steps" and name not in refs.steps:
        errors.append(f"{path}: Get {body!r} refers to a step that is not in the definition")
    elif root == "Execution" and rest not in _EXECUTION_VARIABLES:
        errors.append(f"{path}: Get {body!r} is not a known execution variable")
    elif root == "PipelineExperimentConfig" and rest not in _EXPERIMENT_CONFIG_PROPERTIES:
        errors.append(f"{path}: Get {body!r} is not a PipelineExperimentConfig property")


def _scan_expressions(value: Any, path: str, refs: _Refs, errors: list[str]) -> None:
    """Find and check every expression anywhere inside ``value``."""
    if _expression_function(value):
        _check_expression(value, path, refs, errors)
    elif isinstance(value, dict):
        for key, item in value.items():
            _scan_expressions(item, _join_key(path, key), refs, errors)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _scan_expressions(item, f"{path}[{i}]", refs, errors)


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------

# Every step, nested ones included (condition branches, ForEach bodies), and the keys
# under which a step's Arguments nest whole step definitions: the library's own walk.
_NESTED_STEP_LISTS = NESTED_STEP_LISTS


def _step_path(where: str) -> tuple[Any, ...]:
    """``"Steps[0].Arguments.IfSteps[1]"`` -> ``("Steps", 0, "Arguments", "IfSteps", 1)``."""
    return tuple(
        int(index) if index else key for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", where)
    )


# Step type -> SageMaker API input shape its ``Arguments`` are passed to.
STEP_TYPE_INPUT_SHAPES: dict[str, str] = {
    "Processing": "CreateProcessingJobRequest",
    "Training": "CreateTrainingJobRequest",
    "Tuning": "CreateHyperParameterTuningJobRequest",
    "Transform": "CreateTransformJobRequest",
    # ModelStep (v3) / CreateModelStep (v2) emit ``Model``; v3 ModelStep and v2
    # RegisterModel/_RegisterModelStep both emit ``RegisterModel`` for model packages.
    "Model": "CreateModelInput",
    "RegisterModel": "CreateModelPackageInput",
    # Check steps run a processing job; their own settings (CheckType, SkipCheck,
    # ModelPackageGroupName, Supplied*...) sit beside Arguments at step level, and
    # Arguments is the CreateProcessingJob request.
    "QualityCheck": "CreateProcessingJobRequest",
    "ClarifyCheck": "CreateProcessingJobRequest",
    "AutoML": "CreateAutoMLJobRequest",
    # v3 resource steps pass the captured request through verbatim.
    "EndpointConfig": "CreateEndpointConfigInput",
    "Endpoint": "CreateEndpointInput",
    "InferenceComponent": "CreateInferenceComponentInput",
    "Job": "CreateJobRequest",
}

# Required members of the API shape that a pipeline step may leave out, per step type.
# Anything not listed here must be present whenever botocore marks it required.
ALLOWED_ABSENT_REQUIRED: dict[str, frozenset[str]] = {
    # The job name is generated per execution by SageMaker Pipelines; the SDK pops it
    # from the step arguments (trim_request_dict) unless PipelineDefinitionConfig
    # use_custom_job_prefix is set, in which case it is present and must be valid.
    "Processing": frozenset({"ProcessingJobName"}),
    "QualityCheck": frozenset({"ProcessingJobName"}),  # same trim, in the check step
    "ClarifyCheck": frozenset({"ProcessingJobName"}),  # same trim, in the check step
    "Training": frozenset({"TrainingJobName"}),
    "Tuning": frozenset({"HyperParameterTuningJobName"}),
    "Transform": frozenset({"TransformJobName"}),
    "AutoML": frozenset({"AutoMLJobName"}),
    "Job": frozenset({"JobName"}),
    # ModelStep pops ModelName the same way; Pipelines names the model per execution.
    "Model": frozenset({"ModelName"}),
    # CreateModelPackageInput has no required member at all (ModelPackageGroupName is
    # optional in the API), so nothing needs allowing.
    "RegisterModel": frozenset(),
    # EndpointConfig / Endpoint / InferenceComponent steps send the request the user
    # built as is (no trimming in the SDK): every required member must be there.
    "EndpointConfig": frozenset(),
    "Endpoint": frozenset(),
    "InferenceComponent": frozenset(),
}
# Note: no step type may omit RoleArn / ExecutionRoleArn: Pipelines does not inject the
# job role (the pipeline's own role is only used to call the APIs).  CreateModelInput
# does not require ExecutionRoleArn anyway.

# Step types without a SageMaker API input shape, and how they are checked.
_NO_API_SHAPE = {
    "Condition": "own structure checked; nested IfSteps/ElseSteps checked as steps",
    "Fail": "own structure checked (ErrorMessage only)",
    "Lambda": "own structure checked; Arguments are the function's free-form input",
    "Callback": "own structure checked; Arguments are the free-form SQS message body",
    "ForEach": "nested ForEachBody checked as steps; iteration settings not checked",
    "EMR": "skipped: Arguments target the EMR AddJobFlowSteps API, not SageMaker",
    "EMRServerless": "skipped: Arguments target the EMR Serverless API, not SageMaker",
    "Lineage": "skipped: Arguments fan out to several lineage APIs",
    "Cleanup": "skipped: service-side resource cleanup, no public API shape",
}

_COMPARISON_CONDITIONS = frozenset(
    {"Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"}
)
_OUTPUT_TYPES = frozenset({"String", "Integer", "Boolean", "Float"})


def check_api_shapes(definition: dict[str, Any], *, check_patterns: bool = True) -> list[str]:
    """Validate every step's ``Arguments`` against its SageMaker API input shape.

    Returns error strings ``"<step>: <path>: <problem>"``.  ``check_patterns=False``
    skips botocore's string regex patterns (lengths and enums are still checked),
    for definitions that carry placeholder values.
    """
    if not isinstance(definition, dict):
        return [f"definition: expected an object, got {_show(definition)}"]
    steps = definition.get("Steps")
    if not isinstance(steps, list):
        return [f"definition: Steps: expected list, got {_show(steps)}"]

    refs = _Refs(definition)
    errors: list[str] = []
    walker = _ShapeWalker(_sagemaker_model(), check_patterns)

    # Expressions outside steps (experiment/mlflow config) still have to be valid.
    top_level = {k: v for k, v in definition.items() if k != "Steps"}
    _scan_expressions(top_level, "", refs, errors)
    errors[:] = [f"definition: {e.lstrip('.')}" for e in errors]

    seen: set[str] = set()
    for where, step in all_steps(steps):
        name = step.get("Name")
        label = name if isinstance(name, str) and name else where
        if not isinstance(name, str) or not name:
            errors.append(f"{label}: Name: expected a non-empty string, got {_show(name)}")
        elif name in seen:
            errors.append(f"{label}: Name: duplicate step name")
        seen.add(label)
        step_errors: list[str] = []
        _check_step(step, walker, refs, step_errors)
        errors.extend(f"{label}: {e}" for e in step_errors)
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            errors.append(f"Steps[{i}]: expected an object, got {_show(step)}")
    return errors


def _check_step(step: dict[str, Any], walker: _ShapeWalker, refs: _Refs, errors: list[str]) -> None:
    step_type = step.get("Type")
    args = step.get("Arguments")
    if not isinstance(step_type, str):
        errors.append(f"Type: expected a step type string, got {_show(step_type)}")
        return

    # Expressions anywhere in the step, except inside nested steps (checked on their own).
    own = dict(step)
    if isinstance(args, dict) and step_type in _NESTED_STEP_LISTS:
        own["Arguments"] = {k: v for k, v in args.items() if k not in _NESTED_STEP_LISTS[step_type]}
    _scan_expressions(own, "", refs, errors)
    errors[:] = [e.lstrip(".") for e in errors]

    if step_type in STEP_TYPE_INPUT_SHAPES:
        shape = walker.model.shape_for(STEP_TYPE_INPUT_SHAPES[step_type])
        if not isinstance(args, dict):
            errors.append(f"Arguments: expected object ({shape.name}), got {_show(args)}")
            return
        walker.walk(shape, args, "Arguments", errors, ALLOWED_ABSENT_REQUIRED[step_type])
        if step_type in ("QualityCheck", "ClarifyCheck") and "CheckType" not in step:
            errors.append(f"CheckType: missing on {step_type} step")
    elif step_type == "Condition":
        _check_condition_step(args, errors)
    elif step_type == "Fail":
        _check_fail_step(args, errors)
    elif step_type in ("Lambda", "Callback"):
        _check_lambda_or_callback_step(step, step_type, errors)
    elif step_type in _NO_API_SHAPE:
        pass  # see _NO_API_SHAPE for why
    else:
        known = sorted(set(STEP_TYPE_INPUT_SHAPES) | set(_NO_API_SHAPE))
        errors.append(f"Type: unknown step type {step_type!r} (known: {', '.join(known)})")


def _check_condition_step(args: Any, errors: list[str]) -> None:
    if not isinstance(args, dict):
        errors.append(f"Arguments: expected object, got {_show(args)}")
        return
    _unknown_keys(args, {"Conditions", "IfSteps", "ElseSteps"}, "Arguments", errors)
    conditions = args.get("Conditions")
    if not isinstance(conditions, list) or not conditions:
        errors.append(f"Arguments.Conditions: expected a non-empty list, got {_show(conditions)}")
    else:
        for i, cond in enumerate(conditions):
            _check_condition(cond, f"Arguments.Conditions[{i}]", errors)
    for key in ("IfSteps", "ElseSteps"):
        if key in args and not isinstance(args[key], list):
            errors.append(f"Arguments.{key}: expected list of steps, got {_show(args[key])}")


def _check_condition(cond: Any, path: str, errors: list[str]) -> None:
    """Condition layouts as the SDK's ``sagemaker.workflow.conditions`` emits them."""
    if not isinstance(cond, dict):
        errors.append(f"{path}: expected object, got {_show(cond)}")
        return
    ctype = cond.get("Type")
    if ctype in _COMPARISON_CONDITIONS:
        _unknown_keys(cond, {"Type", "LeftValue", "RightValue"}, path, errors)
        for side in ("LeftValue", "RightValue"):
            _condition_operand(cond, side, path, errors)
    elif ctype == "In":
        _unknown_keys(cond, {"Type", "QueryValue", "Values"}, path, errors)
        _condition_operand(cond, "QueryValue", path, errors)
        values = cond.get("Values")
        if not isinstance(values, list):
            errors.append(f"{path}.Values: expected list, got {_show(values)}")
        else:
            for i, item in enumerate(values):
                if not (isinstance(item, _SCALAR) or _expression_function(item)):
                    errors.append(f"{path}.Values[{i}]: expected scalar or expression")
    elif ctype == "Not":
        _unknown_keys(cond, {"Type", "Condition"}, path, errors)
        _check_condition(cond.get("Condition"), f"{path}.Condition", errors)
    elif ctype == "Or":
        _unknown_keys(cond, {"Type", "Conditions"}, path, errors)
        subs = cond.get("Conditions")
        if not isinstance(subs, list) or not subs:
            errors.append(f"{path}.Conditions: expected a non-empty list, got {_show(subs)}")
        else:
            for i, sub in enumerate(subs):
                _check_condition(sub, f"{path}.Conditions[{i}]", errors)
    else:
        known = sorted(_COMPARISON_CONDITIONS | {"In", "Not", "Or"})
        errors.append(f"{path}.Type: unknown condition type {ctype!r} (known: {', '.join(known)})")


def _condition_operand(cond: dict[str, Any], key: str, path: str, errors: list[str]) -> None:
    if key not in cond:
        errors.append(f"{path}: missing required member {key!r}")
    elif not (isinstance(cond[key], _SCALAR) or _expression_function(cond[key])):
        errors.append(
            f"{path}.{key}: expected scalar or pipeline expression, got {_show(cond[key])}"
        )


def _check_fail_step(args: Any, errors: list[str]) -> None:
    if not isinstance(args, dict):
        errors.append(f"Arguments: expected object, got {_show(args)}")
        return
    _unknown_keys(args, {"ErrorMessage"}, "Arguments", errors)
    # The SDK emits ``"ErrorMessage": null`` for a FailStep without a message.
    message = args.get("ErrorMessage")
    if not (message is None or isinstance(message, str) or _expression_function(message)):
        errors.append(
            f"Arguments.ErrorMessage: expected string or expression, got {_show(message)}"
        )


def _check_lambda_or_callback_step(step: dict[str, Any], step_type: str, errors: list[str]) -> None:
    target = "FunctionArn" if step_type == "Lambda" else "SqsQueueUrl"
    if not isinstance(step.get(target), str) or not step[target]:
        errors.append(f"{target}: expected a non-empty string, got {_show(step.get(target))}")
    if "Arguments" in step and not isinstance(step["Arguments"], dict):
        errors.append(f"Arguments: expected object, got {_show(step['Arguments'])}")
    outputs = step.get("OutputParameters", [])
    if not isinstance(outputs, list):
        errors.append(f"OutputParameters: expected list, got {_show(outputs)}")
        return
    for i, out in enumerate(outputs):
        path = f"OutputParameters[{i}]"
        if not isinstance(out, dict):
            errors.append(f"{path}: expected object, got {_show(out)}")
            continue
        _unknown_keys(out, {"OutputName", "OutputType"}, path, errors)
        if not isinstance(out.get("OutputName"), str):
            errors.append(f"{path}.OutputName: expected string, got {_show(out.get('OutputName'))}")
        if out.get("OutputType", "String") not in _OUTPUT_TYPES:
            errors.append(
                f"{path}.OutputType: {out.get('OutputType')!r} is not one of "
                f"{sorted(_OUTPUT_TYPES)}"
            )


# --------------------------------------------------------------------------------------
# botocore shape walker
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _sagemaker_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


@functools.cache
def _compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    # botocore stores the patterns without the ``^...$`` the SageMaker API reference
    # shows for them (the service matches the whole value), hence ``fullmatch``.  The
    # few Java-only regexes Python cannot compile (``\p{L}``, ``\uD800`` ranges) are
    # skipped.
    try:
        return re.compile(pattern)
    except re.error:
        return None


_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "blob": "string",
    "list": "list",
    "map": "map (object)",
    "structure": "object",
}


class _ShapeWalker:
    """Walks a botocore shape and a JSON value together, collecting errors."""

    def __init__(self, model: Any, check_patterns: bool) -> None:
        self.model = model
        self.check_patterns = check_patterns

    def walk(
        self,
        shape: Any,
        value: Any,
        path: str,
        errors: list[str],
        allowed_absent: frozenset[str] = frozenset(),
    ) -> None:
        kind = shape.type_name
        if _expression_function(value):
            # Expressions resolve at execution time to a scalar, or to a list (e.g. a
            # Get on a list-typed property).  Their own validity is checked by the
            # expression scan; here only the position matters.
            if kind in ("structure", "map"):
                errors.append(
                    f"{path}: pipeline expression not allowed where {shape.name} "
                    f"({_TYPE_NAMES[kind]}) is expected"
                )
            return
        if value is None:
            errors.append(f"{path}: expected {_TYPE_NAMES.get(kind, kind)}, got null")
            return
        method = getattr(self, f"_walk_{kind}", None)
        if method is None:  # pragma: no cover - every botocore type is handled below
            errors.append(f"{path}: cannot check botocore type {kind!r}")
            return
        if kind == "structure":
            self._walk_structure(shape, value, path, errors, allowed_absent)
        else:
            method(shape, value, path, errors)

    # -- containers -------------------------------------------------------------------

    def _walk_structure(
        self,
        shape: Any,
        value: Any,
        path: str,
        errors: list[str],
        allowed_absent: frozenset[str] = frozenset(),
    ) -> None:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object ({shape.name}), got {_show(value)}")
            return
        members = shape.members
        for key, item in value.items():
            if key not in members:
                errors.append(f"{path}: unknown member {key!r} (not in {shape.name})")
            else:
                self.walk(members[key], item, _join_key(path, key), errors)
        for req in shape.required_members:
            if req not in value and req not in allowed_absent:
                errors.append(f"{path}: missing required member {req!r} of {shape.name}")
        if shape.metadata.get("union"):
            present = [k for k in value if k in members]
            if len(present) != 1:
                errors.append(
                    f"{path}: exactly one member of union {shape.name} must be set, got {present}"
                )

    def _walk_list(self, shape: Any, value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, list):
            errors.append(f"{path}: expected list, got {_show(value)}")
            return
        self._bounds(shape, len(value), path, errors, "items")
        for i, item in enumerate(value):
            self.walk(shape.member, item, f"{path}[{i}]", errors)

    def _walk_map(self, shape: Any, value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected map (object), got {_show(value)}")
            return
        self._bounds(shape, len(value), path, errors, "entries")
        for key, item in value.items():
            item_path = _join_key(path, key)
            self._walk_string(shape.key, key, f"{item_path} (key)", errors)
            self.walk(shape.value, item, item_path, errors)

    # -- scalars ----------------------------------------------------------------------

    def _walk_string(self, shape: Any, value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, str):
            errors.append(f"{path}: expected string, got {_show(value)}")
            return
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            errors.append(
                f"{path}: {value!r} is not a valid {shape.name} value "
                f"(allowed: {_short_list(enum)})"
            )
            return
        self._bounds(shape, len(value), path, errors, "characters")
        pattern = shape.metadata.get("pattern")
        if self.check_patterns and pattern:
            compiled = _compiled_pattern(pattern)
            if compiled is not None and not compiled.fullmatch(value):
                errors.append(f"{path}: {value!r} does not match {shape.name} pattern {pattern!r}")

    _walk_blob = _walk_string

    def _walk_integer(self, shape: Any, value: Any, path: str, errors: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{path}: expected integer, got {_show(value)}")
            return
        self._bounds(shape, value, path, errors, None)

    _walk_long = _walk_integer

    def _walk_float(self, shape: Any, value: Any, path: str, errors: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{path}: expected number, got {_show(value)}")
            return
        self._bounds(shape, value, path, errors, None)

    _walk_double = _walk_float

    def _walk_boolean(self, shape: Any, value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean, got {_show(value)}")

    def _walk_timestamp(self, shape: Any, value: Any, path: str, errors: list[str]) -> None:
        # botocore serializes ISO 8601 strings or epoch seconds.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            errors.append(
                f"{path}: expected timestamp (ISO 8601 string or epoch), got {_show(value)}"
            )

    @staticmethod
    def _bounds(shape: Any, n: float, path: str, errors: list[str], unit: str | None) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        what = f"{n} {unit}" if unit else f"value {n}"
        if lo is not None and n < lo:
            errors.append(f"{path}: {what} below minimum {lo} of {shape.name}")
        if hi is not None and n > hi:
            errors.append(f"{path}: {what} above maximum {hi} of {shape.name}")


# --------------------------------------------------------------------------------------
# JSON schema
# --------------------------------------------------------------------------------------

# Stand-in for a well-formed ``Std:JsonGet``: the schema treats it like any ``Get``.
_JSON_GET_STAND_IN = {"Get": "Std:JsonGet"}


def _apply_schema_lag_allowances(definition: dict[str, Any]) -> dict[str, Any]:
    """Deep copy of ``definition`` without what the public schema does not know yet.

    The schema lags the SDK on exactly these, and nothing else is forgiven:

    1. top-level ``PipelineExperimentConfig``: emitted by every SDK pipeline
       (``{"ExperimentName": {"Get": "Execution.PipelineName"}, ...}``) — removed;
    2. top-level ``MlflowConfig``: emitted by the v3 SDK (``null`` when unset) — removed;
    3. ``PropertyFiles`` on ``Processing`` steps (ProcessingStep(property_files=...),
       what ``Std:JsonGet`` reads) — removed from Processing steps only, nested ones
       in Condition branches included;
    4. the ``Std:JsonGet`` expression: the schema only knows ``Get`` — every
       well-formed ``{"Std:JsonGet": {...}}`` is replaced by ``{"Get": "Std:JsonGet"}``
       so it is accepted exactly where a ``Get`` is.  A malformed one (body not an
       object) is left for the schema to reject.
    """
    doc = copy.deepcopy(definition)
    if not isinstance(doc, dict):
        return doc
    doc.pop("PipelineExperimentConfig", None)
    doc.pop("MlflowConfig", None)
    steps = doc.get("Steps")
    if isinstance(steps, list):
        for _, step in all_steps(steps):
            if step.get("Type") == "Processing":
                step.pop("PropertyFiles", None)
    replaced: dict[str, Any] = _replace_json_get(doc)
    return replaced


def _replace_json_get(value: Any) -> Any:
    if _expression_function(value) == "Std:JsonGet" and isinstance(value["Std:JsonGet"], dict):
        return dict(_JSON_GET_STAND_IN)
    if isinstance(value, dict):
        return {k: _replace_json_get(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_json_get(v) for v in value]
    return value


# -- Schema defects -------------------------------------------------------------------
#
# Separate from the four design allowances above: places where the public schema is
# simply wrong about what the SageMaker Pipelines API accepts (it is older than the API,
# or malformed), found by validating a real SDK v3 definition.  Each entry is applied
# to the deep copy made by ``_apply_schema_lag_allowances``, at exactly the place it
# names; nothing else is forgiven.  ``check_api_shapes`` still checks every member
# removed here against botocore (the tests also prove each removed member is in the
# botocore input shape and that the schema rejects it without its entry).


@dataclass(frozen=True)
class SchemaDefect:
    """One documented schema defect: what is rewritten, where, and why."""

    key: str
    #: Step types the rewrite applies to (nested steps included); ``()`` = every step
    #: type (for ``std-join``: every value of the definition).
    step_types: tuple[str, ...]
    #: JSON path inside the step (``[*]`` = every item of a list).
    path: str
    action: str
    reason: str
    #: For member removals: the botocore shape that owns ``path``'s last member.
    api_shape: str | None = None


_RETRY_EXCEPTION_TYPE_LIST = "retry-exception-type-list"
_STD_JOIN = "std-join"

SCHEMA_DEFECTS: tuple[SchemaDefect, ...] = (
    SchemaDefect(
        key=_RETRY_EXCEPTION_TYPE_LIST,
        step_types=(),
        path="RetryPolicies[*].ExceptionType",
        action=(
            "a policy whose ExceptionType is a non-empty list of N values is expanded into "
            "N copies of the policy with one value each, so the schema's enum still checks "
            "every value (errors are reported at the original RetryPolicies[i]."
            "ExceptionType[j]); an empty list or a plain string is left as is"
        ),
        reason=(
            "the schema's RetryPolicy.ExceptionType is a single string enum, but the API "
            "takes a list and the SDK always emits one (StepRetryPolicy / "
            "SageMakerJobStepRetryPolicy.to_request)"
        ),
    ),
    SchemaDefect(
        key=_STD_JOIN,
        step_types=(),
        path="any value",
        action=(
            'a well-formed {"Std:Join": {"On": <string>, "Values": [<string | number | '
            "expression>, ...]}} (exactly those two keys; nested Std:Join / Std:JsonGet "
            'must be well-formed themselves) is replaced by {"Get": "Std:Join"}, so it '
            "is accepted exactly where a Get is; a malformed one is left for the schema "
            "to reject"
        ),
        reason=(
            "definitions.JoinFunction is malformed (its 'Std:Join' property holds "
            "'Values'/'required'/'additionalProperties' directly instead of a schema) and "
            "no definition refers to it, so no position accepts the Std:Join the SDK "
            "emits (functions.Join, e.g. S3 URIs built from execution variables)"
        ),
    ),
    SchemaDefect(
        key="register-model-approval-status",
        step_types=("RegisterModel",),
        path="Arguments.ModelApprovalStatus",
        action="removed",
        reason=(
            "CreateModelPackage member missing from the schema's RegisterModelStep; the "
            "SDK emits it whenever an approval status is given"
        ),
        api_shape="CreateModelPackageInput",
    ),
    SchemaDefect(
        key="register-model-drift-check-baselines",
        step_types=("RegisterModel",),
        path="Arguments.DriftCheckBaselines",
        action="removed",
        reason=(
            "CreateModelPackage member (newer than the schema); the SDK emits it for "
            "drift_check_baselines"
        ),
        api_shape="CreateModelPackageInput",
    ),
    SchemaDefect(
        key="register-model-skip-model-validation",
        step_types=("RegisterModel",),
        path="Arguments.SkipModelValidation",
        action="removed",
        reason=(
            "CreateModelPackage member (newer than the schema); the v3 SDK always emits "
            "it (model_registry.get_create_model_package_request defaults it to 'None')"
        ),
        api_shape="CreateModelPackageInput",
    ),
    SchemaDefect(
        key="register-model-container-environment",
        step_types=("RegisterModel",),
        path="Arguments.InferenceSpecification.Containers[*].Environment",
        action="removed",
        reason=(
            "ModelPackageContainerDefinition member missing from the schema; the SDK "
            "emits it for framework models (SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY...)"
        ),
        api_shape="ModelPackageContainerDefinition",
    ),
    SchemaDefect(
        key="training-output-compression-type",
        step_types=("Training",),
        path="Arguments.OutputDataConfig.CompressionType",
        action="removed",
        reason=(
            "OutputDataConfig member (newer than the schema); the v3 ModelTrainer always "
            "emits it (GZIP by default)"
        ),
        api_shape="OutputDataConfig",
    ),
)

# Stand-in for a well-formed ``Std:Join`` (like ``_JSON_GET_STAND_IN``).
_JOIN_STAND_IN = {"Get": "Std:Join"}

# Schema path (as a tuple) in the rewritten document -> path in the original one.
_PathMap = dict[tuple[Any, ...], tuple[Any, ...]]


def _apply_schema_defects(doc: Any, without: frozenset[str] = frozenset()) -> tuple[Any, _PathMap]:
    """Apply every ``SCHEMA_DEFECTS`` entry (except the keys in ``without``) to ``doc``.

    ``doc`` is the copy returned by ``_apply_schema_lag_allowances`` (so ``Std:JsonGet``
    is already a ``Get`` stand-in) and is rewritten in place where possible.  Returns
    the rewritten document and the map from rewritten paths back to original ones.
    """
    path_map: _PathMap = {}
    if not isinstance(doc, dict):
        return doc, path_map
    steps = doc.get("Steps")
    step_list = [(step, _step_path(where)) for where, step in all_steps(steps)]
    for defect in SCHEMA_DEFECTS:
        if defect.key in without:
            continue
        if defect.key == _RETRY_EXCEPTION_TYPE_LIST:
            for step, where in step_list:
                _expand_exception_types(step, where, path_map)
        elif defect.key == _STD_JOIN:
            doc = _replace_join(doc)
            steps = doc.get("Steps")
            step_list = [(step, _step_path(where)) for where, step in all_steps(steps)]
        elif defect.api_shape is not None:
            segments = re.findall(r"\[\*\]|[^.\[\]]+", defect.path)
            for step, _ in step_list:
                if step.get("Type") in defect.step_types:
                    _remove_at(step, segments)
        else:  # pragma: no cover - every entry is handled above
            raise AssertionError(f"schema defect {defect.key!r} has no implementation")
    return doc, path_map


def _expand_exception_types(
    step: dict[str, Any], where: tuple[Any, ...], path_map: _PathMap
) -> None:
    policies = step.get("RetryPolicies")
    if not isinstance(policies, list) or not any(
        isinstance(p, dict) and isinstance(p.get("ExceptionType"), list) and p["ExceptionType"]
        for p in policies
    ):
        return
    base = (*where, "RetryPolicies")
    expanded: list[Any] = []
    for i, policy in enumerate(policies):
        types = policy.get("ExceptionType") if isinstance(policy, dict) else None
        if isinstance(types, list) and types:
            for j, value in enumerate(types):
                path_map[(*base, len(expanded))] = (*base, i)
                path_map[(*base, len(expanded), "ExceptionType")] = (
                    *base,
                    i,
                    "ExceptionType",
                    j,
                )
                expanded.append({**policy, "ExceptionType": value})
        else:
            path_map[(*base, len(expanded))] = (*base, i)
            expanded.append(policy)
    step["RetryPolicies"] = expanded


def _replace_join(value: Any) -> Any:
    """Bottom-up: nested expressions are replaced first, then the Join itself."""
    if isinstance(value, list):
        return [_replace_join(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: _replace_join(v) for k, v in value.items()}
    if _expression_function(value) == "Std:Join" and _well_formed_join(value["Std:Join"]):
        return dict(_JOIN_STAND_IN)
    return value


def _well_formed_join(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"On", "Values"}
        and isinstance(body["On"], str)
        and isinstance(body["Values"], list)
        and all(_join_value_ok(item) for item in body["Values"])
    )


def _join_value_ok(item: Any) -> bool:
    """A string, a number or an expression (already a ``{"Get": str}`` stand-in)."""
    if isinstance(item, str) or (isinstance(item, int | float) and not isinstance(item, bool)):
        return True
    return _expression_function(item) == "Get" and isinstance(item["Get"], str)


def _remove_at(node: Any, segments: list[str]) -> None:
    head, *rest = segments
    if head == "[*]":
        if isinstance(node, list):
            for item in node:
                _remove_at(item, rest)
    elif isinstance(node, dict):
        if rest:
            _remove_at(node.get(head), rest)
        else:
            node.pop(head, None)


def _original_path(where: list[Any], path_map: _PathMap) -> list[Any]:
    for n in range(len(where), 0, -1):
        original = path_map.get(tuple(where[:n]))
        if original is not None:
            return [*original, *where[n:]]
    return where


@functools.lru_cache(maxsize=4)
def _validator(schema_path: str, mtime: float) -> Any:
    from jsonschema import Draft7Validator

    schema = json.loads(Path(schema_path).read_text(encoding="utf-8"))
    return Draft7Validator(schema)


def check_schema(definition: dict[str, Any], schema_path: Path) -> list[str]:
    """Validate against the public pipeline definition JSON schema (Draft 7).

    The only deviations forgiven are the four design allowances of
    ``_apply_schema_lag_allowances`` and the schema defects listed in
    ``SCHEMA_DEFECTS``.  Raises ``FileNotFoundError`` if ``schema_path`` does not exist
    (tests should call ``require_schema`` first to skip instead).
    """
    return _schema_errors(definition, schema_path)


def _schema_errors(
    definition: dict[str, Any], schema_path: Path, without: frozenset[str] = frozenset()
) -> list[str]:
    """``check_schema`` with the ``SCHEMA_DEFECTS`` entries keyed in ``without`` off.

    For tests proving that every entry is still needed.
    """
    unknown = without - {defect.key for defect in SCHEMA_DEFECTS}
    if unknown:
        raise ValueError(f"not a SCHEMA_DEFECTS key: {sorted(unknown)}")
    path = Path(schema_path)
    validator = _validator(str(path.resolve()), path.stat().st_mtime)
    doc, path_map = _apply_schema_defects(_apply_schema_lag_allowances(definition), without)
    errors: list[str] = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        for where, message in _explain(error):
            line = f"{_locate(doc, where, _original_path(where, path_map))}: {message}"
            if line not in errors:  # an expanded retry policy repeats its other members
                errors.append(line)
    return errors


def _explain(error: Any) -> list[tuple[list[Any], str]]:
    """Turn a (possibly oneOf/anyOf) schema error into the errors that matter.

    A step is ``oneOf`` sixteen step schemas, so a single bad member inside a step
    surfaces as "not valid under any of the given schemas".  When one branch's
    ``Type`` matched (no sub-error on ``Type``), that branch's sub-errors are the real
    problems; otherwise fall back to jsonschema's ``best_match``.
    """
    if error.validator in ("oneOf", "anyOf") and error.context:
        by_branch: dict[Any, list[Any]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.schema_path[0], []).append(sub)
        depth = len(error.absolute_path)
        typed = [
            subs
            for subs in by_branch.values()
            if not any(list(s.absolute_path)[depth:] == ["Type"] for s in subs)
        ]
        if len(typed) == 1:
            return [item for sub in typed[0] for item in _explain(sub)]
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        if best is not None and len(best.absolute_path) > depth:
            return _explain(best)
        return [(list(error.absolute_path), f"{_show(error.instance)} {_schema_reason(error)}")]
    return [(list(error.absolute_path), _truncate(error.message, 300))]


def _schema_reason(error: Any) -> str:
    refs = [
        s.get("$ref", "").rsplit("/", 1)[-1] or s.get("type", "?")
        for s in error.validator_value
        if isinstance(s, dict)
    ]
    return f"is not valid under any of {error.validator} [{', '.join(map(str, refs))}]"


def _locate(doc: Any, where: list[Any], shown: list[Any] | None = None) -> str:
    """``"<step>: Steps[0].Arguments.X"`` (innermost step named) or ``"definition: X"``.

    The step is found by following ``where`` in ``doc``; the path shown is ``shown``
    (the same place in the original definition) when given, else ``where``.
    """
    label = "definition"
    node = doc
    step_lists = {"Steps", "IfSteps", "ElseSteps", "ForEachBody"}
    parent_key: Any = None
    for part in where:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if (
            isinstance(part, int)
            and parent_key in step_lists
            and isinstance(node, dict)
            and isinstance(node.get("Name"), str)
        ):
            label = node["Name"]
        parent_key = part
    path = ""
    for part in where if shown is None else shown:
        path = f"{path}[{part}]" if isinstance(part, int) else _join_key(path, str(part))
    return f"{label}: {path.lstrip('.') or '(root)'}"


# --------------------------------------------------------------------------------------
# CDK tokens
# --------------------------------------------------------------------------------------

_TOKEN_PATTERN = re.compile(
    r"""
      [$#]\{\s*Token\[[^\]"\s]*\]?\s*\}?  # ${Token[TOKEN.12]} (string), #{Token[...]} (list)
    | \$\{TOKEN[^}\s"]*\}?               # ${TOKEN...} in any case
    | \[\bToken\[[^\]"]*\]?\]?          # [Token[TOKEN.7]] (stringified token list)
    | \bToken\[[^\]"]*\]?                # Token[AWS.Region.4], bare Token[
    | \[Token\b                          # "[Token" left over from stringified token lists
    | -1\.88815458970\d*(?:e\+?289)?     # encoded number token (-1.8881545897087626e+289)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def check_no_tokens(text: str) -> list[str]:
    """Return every unresolved CDK token snippet found in ``text`` (empty if none)."""
    return [match.group(0) for match in _TOKEN_PATTERN.finditer(text)]


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_\-:]*")


def _join_key(path: str, key: Any) -> str:
    if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key) if isinstance(key, str) else key!r}]"


def _unknown_keys(value: dict[str, Any], allowed: set[str], path: str, errors: list[str]) -> None:
    for key in value:
        if key not in allowed:
            errors.append(f"{path}: unknown member {key!r} (allowed: {', '.join(sorted(allowed))})")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return f"{type(value).__name__} {_truncate(json.dumps(value, default=str), 80)}"
    return _truncate(repr(value), 80)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_list(values: list[str], limit: int = 6) -> str:
    shown = ", ".join(map(repr, values[:limit]))
    return shown if len(values) <= limit else f"{shown}, ... {len(values)} in all"
