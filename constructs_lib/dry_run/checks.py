"""Checks a definition before anything runs: the wiring mistakes a dry run can see in
the JSON alone (SageMaker would reject most of them when the execution starts, or fail
the step that reads them).

`flatten(definition)` lists every step with where it sits (condition branches included);
`check(definition, overrides)` returns the parameters' values or raises `DryRunError` on
the first problem: a `Get` on a parameter, step, property, output, property file or
metric that does not exist; a parameter whose type does not fit where it is used; a
`DependsOn` on an unknown step; a dependency cycle.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from constructs_lib.dry_run.errors import DryRunError
from constructs_lib.dry_run.expressions import (
    NUMERIC_CONDITIONS,
    Key,
    Reference,
    is_expression,
    parse_path,
    references,
)

CREATE_SHAPES = {
    "Processing": "CreateProcessingJobRequest",
    "Training": "CreateTrainingJobRequest",
    "RegisterModel": "CreateModelPackageInput",
    "Model": "CreateModelInput",
    "Transform": "CreateTransformJobRequest",
    "QualityCheck": "CreateProcessingJobRequest",
    "ClarifyCheck": "CreateProcessingJobRequest",
}
"""The API request each job step's Arguments are (botocore shape names)."""
DESCRIBE_SHAPES = {
    "Processing": "DescribeProcessingJobResponse",
    "Training": "DescribeTrainingJobResponse",
    "RegisterModel": "DescribeModelPackageOutput",
    "Model": "DescribeModelOutput",
    "Transform": "DescribeTransformJobResponse",
    "QualityCheck": "QualityCheckStepMetadata",
    "ClarifyCheck": "ClarifyCheckStepMetadata",
}
"""What `Get Steps.<step>.<property>` reads, by step type (its job's Describe response;
for check steps the step metadata of ListPipelineExecutionSteps)."""
CHECK_PROPERTIES = {
    "QualityCheck": (
        "CalculatedBaselineConstraints",
        "CalculatedBaselineStatistics",
        "BaselineUsedForDriftCheckStatistics",
        "BaselineUsedForDriftCheckConstraints",
    ),
    "ClarifyCheck": ("CalculatedBaselineConstraints", "BaselineUsedForDriftCheckConstraints"),
}
"""The properties a check step exposes to `Get` (SageMaker's "Step properties" and the
SDK's QualityCheckStep/ClarifyCheckStep.properties): S3 URIs of baseline files."""
CHECK_FIELDS = (
    "SkipCheck",
    "FailOnViolation",
    "RegisterNewBaseline",
    "SuppliedBaselineStatistics",
    "SuppliedBaselineConstraints",
    "ModelPackageGroupName",
    "ModelName",
)
"""Step-level fields of check steps that may hold expressions."""
EXECUTION_VARIABLES = (
    "PipelineExecutionId",
    "PipelineExecutionArn",
    "PipelineName",
    "PipelineArn",
    "StartDateTime",
    "CurrentDateTime",
)
PARAMETER_TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool}
_SHAPE_TYPES = {
    "String": ("string",),
    "Integer": ("integer", "long"),
    "Float": ("float", "double"),
    "Boolean": ("boolean",),
}


@dataclass(frozen=True)
class StepInfo:
    """A step and where it sits in the definition."""

    step: dict[str, Any]
    index: int
    """Position in a depth-first walk of the definition (the tie-break of the order)."""
    condition: str | None = None
    """The Condition step whose branch holds this step, if any."""
    branch: str | None = None
    """`IfSteps` or `ElseSteps`."""

    @property
    def name(self) -> str:
        return str(self.step.get("Name", ""))

    @property
    def type(self) -> str:
        return str(self.step.get("Type", ""))


@dataclass
class Graph:
    """Every step and what it waits for."""

    steps: dict[str, StepInfo] = field(default_factory=dict)
    needs: dict[str, set[str]] = field(default_factory=dict)
    data: dict[str, list[Reference]] = field(default_factory=dict)

    def order(self) -> list[str]:
        """A topological order, ties broken by position in the definition."""
        done: list[str] = []
        waiting = dict(self.needs)
        while waiting:
            ready = sorted(
                (n for n, needs in waiting.items() if needs <= set(done)),
                key=lambda n: self.steps[n].index,
            )
            if not ready:
                cycle = ", ".join(sorted(waiting))
                raise DryRunError("definition", "Steps", f"no dependency cycle (among {cycle})")
            done.append(ready[0])
            del waiting[ready[0]]
        return done


def flatten(definition: Mapping[str, Any]) -> Graph:
    graph = Graph()

    def visit(steps: Any, path: str, condition: str | None, branch: str | None) -> None:
        if not isinstance(steps, list):
            raise DryRunError("definition", path, "a list of steps")
        for position, step in enumerate(steps):
            if not isinstance(step, dict) or not step.get("Name") or not step.get("Type"):
                raise DryRunError("definition", f"{path}[{position}]", "a step with Name and Type")
            name = str(step["Name"])
            if name in graph.steps:
                raise DryRunError(name, "Name", "a step name used once in the pipeline")
            graph.steps[name] = StepInfo(step, len(graph.steps), condition, branch)
            if step["Type"] == "Condition":
                arguments = step.get("Arguments", {})
                for key in ("IfSteps", "ElseSteps"):
                    visit(arguments.get(key, []), f"{name}.{key}", name, key)

    visit(definition.get("Steps", []), "Steps", None, None)
    for name, info in graph.steps.items():
        arguments = info.step.get("Arguments", {})
        if info.type == "Condition":
            arguments = {"Conditions": arguments.get("Conditions", [])}
        refs = list(references(arguments, ""))
        refs += list(references(info.step.get("PropertyFiles", []), "PropertyFiles"))
        if info.type in CHECK_PROPERTIES:
            for key in CHECK_FIELDS:
                refs += list(references(info.step.get(key), key))
        graph.data[name] = refs
        needs = {r.step for r in refs if r.step}
        for position, other in enumerate(info.step.get("DependsOn", []) or []):
            if other not in graph.steps:
                known = ", ".join(graph.steps)
                raise DryRunError(
                    name, f"DependsOn[{position}]", f"a step name ({known}), not {other!r}"
                )
            needs.add(str(other))
        if info.condition:
            needs.add(info.condition)
        needs.discard(name)
        graph.needs[name] = {n for n in needs if n is not None}
    return graph


def parameters(definition: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Each parameter's value: the override (text, converted to its type) or its default."""
    values: dict[str, Any] = {}
    declared = definition.get("Parameters", []) or []
    for position, parameter in enumerate(declared):
        where = f"Parameters[{position}]"
        name = str(parameter.get("Name", ""))
        kind = parameter.get("Type", "String")
        if kind not in PARAMETER_TYPES:
            raise DryRunError(
                "definition", f"{where}.Type", f"String, Integer, Float or Boolean, not {kind!r}"
            )
        if name in overrides:
            values[name] = _convert(name, kind, overrides[name])
        elif "DefaultValue" in parameter:
            default = parameter["DefaultValue"]
            if not _fits(kind, default):
                raise DryRunError(
                    "definition",
                    f"{where}.DefaultValue",
                    f"a {kind} for parameter {name}; got {default!r}",
                )
            values[name] = float(default) if kind == "Float" else default
        else:
            raise DryRunError(
                "definition",
                where,
                f"a value for parameter {name} (no default): pass --param {name}=...",
            )
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        known = ", ".join(values) or "none"
        raise DryRunError(
            "definition", "Parameters", f"overrides of declared parameters ({known}); got {unknown}"
        )
    return values


def _fits(kind: str, value: Any) -> bool:
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "Float":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    return isinstance(value, str)


def _convert(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
        if kind == "Boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
    except ValueError as error:
        raise DryRunError(
            "definition", f"Parameters.{name}", f"a {kind} override; got {text!r}"
        ) from error
    return text


def check(
    definition: Mapping[str, Any], overrides: Mapping[str, str]
) -> tuple[Graph, dict[str, Any]]:
    """The step graph and the parameters' values, or the first wiring error."""
    values = parameters(definition, overrides)
    kinds = {
        str(p.get("Name")): str(p.get("Type", "String"))
        for p in definition.get("Parameters", []) or []
    }
    graph = flatten(definition)
    for name, info in graph.steps.items():
        for ref in graph.data[name]:
            _check_reference(graph, name, ref, kinds)
        _check_parameter_types(info, kinds)
        if info.type == "Condition":
            for position, spec in enumerate(info.step.get("Arguments", {}).get("Conditions", [])):
                _check_condition(name, spec, f"Conditions[{position}]", kinds)
        for position, spec in enumerate(info.step.get("PropertyFiles", []) or []):
            outputs = _output_names(info.step)
            if spec.get("OutputName") not in outputs:
                raise DryRunError(
                    name,
                    f"PropertyFiles[{position}].OutputName",
                    f"an output of {name} ({', '.join(outputs) or 'none'}), not {spec.get('OutputName')!r}",
                )
    graph.order()
    return graph, values


def _output_names(step: Mapping[str, Any]) -> list[str]:
    outputs = step.get("Arguments", {}).get("ProcessingOutputConfig", {}).get("Outputs", [])
    return [str(o.get("OutputName")) for o in outputs if isinstance(o, dict)]


def _check_reference(graph: Graph, step: str, ref: Reference, kinds: Mapping[str, str]) -> None:
    where = ref.path or "Arguments"
    try:
        tokens = parse_path(ref.target)
    except ValueError as error:
        raise DryRunError(step, where, f"Get {ref.target!r}: {error}") from error
    if tokens[0] == "Parameters":
        if len(tokens) != 2 or str(tokens[1]) not in kinds:
            known = ", ".join(kinds) or "none"
            raise DryRunError(step, where, f"Get {ref.target}: a declared parameter ({known})")
        return
    if tokens[0] == "Execution":
        if len(tokens) != 2 or tokens[1] not in EXECUTION_VARIABLES:
            raise DryRunError(
                step,
                where,
                f"Get {ref.target}: one of Execution.{', Execution.'.join(EXECUTION_VARIABLES)}",
            )
        return
    if tokens[0] != "Steps" or len(tokens) < 3:
        raise DryRunError(
            step,
            where,
            f"Get {ref.target}: Parameters.<name>, Execution.<name> or Steps.<step>.<property>",
        )
    source = str(tokens[1])
    if source not in graph.steps:
        raise DryRunError(
            step,
            where,
            f"Get {ref.target}: a step of the pipeline ({', '.join(graph.steps)}), not {source!r}",
        )
    if source == step:
        raise DryRunError(step, where, f"Get {ref.target}: a property of another step (not itself)")
    info = graph.steps[source]
    if tokens[2] == "PropertyFiles":
        declared = [
            str(p.get("PropertyFileName")) for p in info.step.get("PropertyFiles", []) or []
        ]
        if len(tokens) != 4 or str(tokens[3]) not in declared:
            raise DryRunError(
                step,
                where,
                f"Get {ref.target}: a property file {source} declares ({', '.join(declared) or 'none'})",
            )
        if ref.json_path is None:
            raise DryRunError(
                step, where, f"Get {ref.target}: property files are read with Std:JsonGet"
            )
        return
    shape_name = DESCRIBE_SHAPES.get(info.type)
    if shape_name is None:
        return  # Lambda, Callback and others: their outputs are declared, not shaped
    exposed = CHECK_PROPERTIES.get(info.type)
    if exposed is not None and (len(tokens) != 3 or tokens[2] not in exposed):
        raise DryRunError(
            step,
            where,
            f"Get {ref.target}: a {info.type} step exposes {', '.join(exposed)}",
        )
    _walk_shape(_model().shape_for(shape_name), tokens[2:], info, step, where, ref.target)


@functools.cache
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _walk_shape(
    shape: Any, tokens: list[str | int], source: StepInfo, step: str, where: str, target: str
) -> None:
    trail: list[str] = []
    for token in tokens:
        kind = shape.type_name
        if kind == "structure" and not isinstance(token, int) and not isinstance(token, Key):
            if token not in shape.members:
                members = ", ".join(shape.members)
                at = ".".join(trail) or source.type + " step"
                raise DryRunError(
                    step,
                    where,
                    f"Get {target}: {at} has no property {token!r} (properties: {members})",
                )
            shape = shape.members[token]
        elif kind == "list" and isinstance(token, Key):
            _check_key(source, trail, token, step, where, target)
            shape = shape.member
        elif kind == "list" and isinstance(token, int):
            shape = shape.member
        elif kind == "map" and isinstance(token, Key):
            shape = shape.value
        else:
            raise DryRunError(
                step, where, f"Get {target}: cannot index {'.'.join(trail)} ({kind}) with {token!r}"
            )
        trail.append(str(token))


def _check_key(
    source: StepInfo, trail: list[str], key: str, step: str, where: str, target: str
) -> None:
    arguments = source.step.get("Arguments", {})
    if trail == ["ProcessingOutputConfig", "Outputs"]:
        names = _output_names(source.step)
    elif trail == ["ProcessingInputs"]:
        names = [str(i.get("InputName")) for i in arguments.get("ProcessingInputs", [])]
    elif trail == ["InputDataConfig"]:
        names = [str(i.get("ChannelName")) for i in arguments.get("InputDataConfig", [])]
    elif trail == ["FinalMetricDataList"]:
        spec = arguments.get("AlgorithmSpecification", {})
        names = [str(m.get("Name")) for m in spec.get("MetricDefinitions", [])]
    else:
        return
    if key not in names:
        what = {"FinalMetricDataList": "metric definition"}.get(trail[-1], "item")
        raise DryRunError(
            step,
            where,
            f"Get {target}: {source.name} has no {what} {key!r} in {'.'.join(trail)} ({', '.join(names) or 'none'})",
        )


def _check_parameter_types(info: StepInfo, kinds: Mapping[str, str]) -> None:
    shape_name = CREATE_SHAPES.get(info.type)
    if shape_name is None:
        return
    for path, shape, value in _expressions(
        _model().shape_for(shape_name), info.step.get("Arguments", {}), ""
    ):
        target = value.get("Get") if isinstance(value, dict) else None
        if not isinstance(target, str) or not target.startswith("Parameters."):
            expected = ("string",) if "Std:Join" in value else None
            if expected and shape is not None and shape.type_name not in expected:
                raise DryRunError(info.name, path, f"a {shape.type_name} (Std:Join makes a string)")
            continue
        kind = kinds.get(target.split(".", 1)[1])
        if kind is None or shape is None:
            continue
        if shape.type_name not in _SHAPE_TYPES[kind]:
            raise DryRunError(
                info.name,
                path,
                f"Get {target} is a {kind} parameter; {CREATE_SHAPES[info.type].removesuffix('Request').removesuffix('Input')}"
                f" expects a {shape.type_name} here",
            )


def _expressions(shape: Any, value: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, expected shape or None, expression) for every expression in `value`."""
    if is_expression(value):
        yield path, shape, value
        return
    if isinstance(value, dict):
        members = shape.members if shape is not None and shape.type_name == "structure" else {}
        for key, item in value.items():
            inner = members.get(key)
            if shape is not None and shape.type_name == "map":
                inner = shape.value
            yield from _expressions(inner, item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        inner = shape.member if shape is not None and shape.type_name == "list" else None
        for index, item in enumerate(value):
            yield from _expressions(inner, item, f"{path}[{index}]")


def _check_condition(step: str, spec: Any, path: str, kinds: Mapping[str, str]) -> None:
    if not isinstance(spec, dict):
        raise DryRunError(step, path, "a condition object")
    kind = spec.get("Type")
    if kind in NUMERIC_CONDITIONS:
        for side in ("LeftValue", "RightValue"):
            value = spec.get(side)
            target = value.get("Get") if isinstance(value, dict) else None
            if isinstance(target, str) and target.startswith("Parameters."):
                parameter_kind = kinds.get(target.split(".", 1)[1])
                if parameter_kind not in ("Integer", "Float"):
                    raise DryRunError(
                        step,
                        f"{path}.{side}",
                        f"{kind} compares numbers; Get {target} is a {parameter_kind} parameter",
                    )
            elif isinstance(value, str | bool) or (isinstance(value, dict) and "Std:Join" in value):
                raise DryRunError(step, f"{path}.{side}", f"{kind} compares numbers; got {value!r}")
    elif kind == "Not":
        _check_condition(step, spec.get("Expression"), f"{path}.Expression", kinds)
    elif kind == "Or":
        for position, inner in enumerate(spec.get("Conditions", [])):
            _check_condition(step, inner, f"{path}.Conditions[{position}]", kinds)
    elif kind not in ("Equals", "In"):
        raise DryRunError(step, f"{path}.Type", f"a condition type SageMaker knows, not {kind!r}")
