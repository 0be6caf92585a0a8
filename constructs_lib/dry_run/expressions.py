"""Pipeline expressions as SageMaker evaluates them: `Get`, `Std:Join`, `Std:JsonGet`,
and the conditions of a Condition step.

`evaluate(value, context, step, path)` returns `value` with every expression replaced by
its value; an expression that cannot be evaluated raises `DryRunError` naming the step
and the JSON path (e.g. `QualityGate: Conditions[0].LeftValue: JsonGet path ...`).
`references(value, path)` lists every `Get` (and property file) a value uses, for the
static checks and the step order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from constructs_lib.dry_run.errors import DryRunError

FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")
_TOKEN = re.compile(r"\.?([A-Za-z0-9_:\-]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_KEY_FIELDS = ("OutputName", "InputName", "ChannelName", "MetricName", "Name")
NUMERIC_CONDITIONS = ("GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")


def parse_path(text: str) -> list[str | int]:
    """`Steps.A.Outputs['x'].S3Uri` -> ['Steps', 'A', 'Outputs', 'x'(key), 'S3Uri'].

    Keys in brackets are returned as `Key` strings, positions as ints."""
    tokens: list[str | int] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read {text!r} at {text[position:]!r}")
        name, index, key1, key2 = match.groups()
        if name is not None:
            tokens.append(name)
        elif index is not None:
            tokens.append(int(index))
        else:
            tokens.append(Key(key1 if key1 is not None else key2))
        position = match.end()
    return tokens


class Key(str):
    """A bracketed key in a property path (`Outputs['train']`)."""


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in FUNCTIONS


@dataclass(frozen=True)
class Reference:
    """One `Get` in a step: where it is, and what it names."""

    path: str
    """JSON path inside the step's Arguments (or the step for DependsOn)."""
    target: str
    """The `Get` text, e.g. `Steps.Train.ModelArtifacts.S3ModelArtifacts`."""
    json_path: str | None = None
    """For a property file inside `Std:JsonGet`: its `Path`."""

    @property
    def step(self) -> str | None:
        parts = self.target.split(".")
        return parts[1] if parts[0] == "Steps" and len(parts) > 1 else None


def references(value: Any, path: str) -> Iterator[Reference]:
    """Every `Get` inside `value` (`path` is where `value` is)."""
    if isinstance(value, dict):
        if is_expression(value):
            ((function, argument),) = value.items()
            if function == "Get":
                yield Reference(path, str(argument))
                return
            if function == "Std:JsonGet" and isinstance(argument, dict):
                source = argument.get("PropertyFile")
                if isinstance(source, dict) and "Get" in source:
                    yield Reference(path, str(source["Get"]), str(argument.get("Path", "")))
                return
            yield from references(argument, path)
            return
        for key, item in value.items():
            yield from references(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, f"{path}[{index}]")


@dataclass
class Context:
    """What expressions read during one execution."""

    parameters: dict[str, Any]
    execution: dict[str, str]
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Step name -> its properties (the Describe* response of its job)."""
    property_files: dict[str, dict[str, tuple[str, Any]]] = field(default_factory=dict)
    """Step name -> property file name -> (file name, parsed JSON)."""


def evaluate(value: Any, context: Context, step: str, path: str) -> Any:
    """`value` with every pipeline expression evaluated."""
    if isinstance(value, dict):
        if is_expression(value):
            ((function, argument),) = value.items()
            if function == "Get":
                return get(str(argument), context, step, path)
            if function == "Std:Join":
                return _join(argument, context, step, path)
            return json_get(argument, context, step, path)
        return {
            k: evaluate(v, context, step, f"{path}.{k}" if path else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [evaluate(v, context, step, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def get(target: str, context: Context, step: str, path: str) -> Any:
    try:
        tokens = parse_path(target)
    except ValueError as error:
        raise DryRunError(step, path, f"Get: {error}") from error
    root = tokens[0]
    if root == "Parameters" and len(tokens) == 2:
        name = str(tokens[1])
        if name not in context.parameters:
            known = ", ".join(sorted(context.parameters)) or "none"
            raise DryRunError(
                step, path, f"Get {target}: no parameter {name} (parameters: {known})"
            )
        return context.parameters[name]
    if root == "Execution" and len(tokens) == 2:
        name = str(tokens[1])
        if name not in context.execution:
            known = ", ".join(sorted(context.execution))
            raise DryRunError(step, path, f"Get {target}: not an execution variable ({known})")
        return context.execution[name]
    if root == "Steps" and len(tokens) >= 3:
        source = str(tokens[1])
        if source not in context.properties:
            raise DryRunError(step, path, f"Get {target}: step {source} has not run")
        if tokens[2] == "PropertyFiles":
            raise DryRunError(step, path, f"Get {target}: a property file is read by Std:JsonGet")
        return walk(context.properties[source], tokens[2:], step, path, target)
    raise DryRunError(
        step, path, f"Get {target}: Parameters.<name>, Execution.<name> or Steps.<name>.<property>"
    )


def walk(value: Any, tokens: list[str | int], step: str, path: str, target: str) -> Any:
    """Follow `tokens` through a step's properties (list items by position or by name)."""
    for token in tokens:
        if isinstance(token, Key) and isinstance(value, list):
            found = [item for item in value if _item_key(item) == token]
            if not found:
                names = ", ".join(str(_item_key(i)) for i in value)
                raise DryRunError(step, path, f"Get {target}: no item {token!r} (items: {names})")
            value = found[0]
        elif isinstance(token, int) and isinstance(value, list):
            if token >= len(value):
                raise DryRunError(step, path, f"Get {target}: index {token} of {len(value)} items")
            value = value[token]
        elif isinstance(value, dict) and str(token) in value:
            value = value[str(token)]
        else:
            keys = ", ".join(sorted(value)) if isinstance(value, dict) else type(value).__name__
            raise DryRunError(step, path, f"Get {target}: no {token!r} here (has: {keys})")
    return value


def _item_key(item: Any) -> Any:
    if isinstance(item, dict):
        for key in _KEY_FIELDS:
            if key in item:
                return item[key]
    return None


def _join(argument: Any, context: Context, step: str, path: str) -> str:
    if not isinstance(argument, dict) or not isinstance(argument.get("Values"), list):
        raise DryRunError(step, path, "Std:Join: an object with On and Values (a list)")
    values = evaluate(argument["Values"], context, step, f"{path}.Std:Join.Values")
    return str(argument.get("On", "")).join(render(v) for v in values)


def render(value: Any) -> str:
    """A value as SageMaker writes it into text (Std:Join, a Fail message)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def json_get(argument: Any, context: Context, step: str, path: str) -> Any:
    """`Std:JsonGet`: a value out of a step's property file, by a dotted JSON path."""
    if not isinstance(argument, dict) or "Path" not in argument:
        raise DryRunError(step, path, "Std:JsonGet: an object with PropertyFile and Path")
    source = argument.get("PropertyFile")
    target = source.get("Get") if isinstance(source, dict) else None
    tokens = parse_path(str(target)) if target else []
    if len(tokens) != 4 or tokens[0] != "Steps" or tokens[2] != "PropertyFiles":
        raise DryRunError(
            step, f"{path}.PropertyFile", "Get Steps.<step>.PropertyFiles.<property file name>"
        )
    source_step, name = str(tokens[1]), str(tokens[3])
    files = context.property_files.get(source_step, {})
    if name not in files:
        raise DryRunError(step, f"{path}.PropertyFile", f"property file {name} of {source_step}")
    file_name, content = files[name]
    json_path = str(argument["Path"])
    try:
        tokens = parse_path(json_path)
    except ValueError as error:
        raise DryRunError(step, path, f"JsonGet path {json_path!r}: {error}") from error
    value = content
    for token in tokens:
        if isinstance(value, dict) and not isinstance(token, int) and str(token) in value:
            value = value[str(token)]
        elif isinstance(value, list) and isinstance(token, int) and token < len(value):
            value = value[token]
        else:
            keys = ", ".join(sorted(value)) if isinstance(value, dict) else type(value).__name__
            raise DryRunError(
                step, path, f"JsonGet path {json_path!r} not in {file_name} (keys: {keys})"
            )
    return value


def condition(spec: Any, context: Context, step: str, path: str) -> bool:
    """One condition of a Condition step, evaluated."""
    if not isinstance(spec, dict) or "Type" not in spec:
        raise DryRunError(step, path, "a condition with a Type")
    kind = spec["Type"]
    if kind in NUMERIC_CONDITIONS or kind == "Equals":
        left = evaluate(spec.get("LeftValue"), context, step, f"{path}.LeftValue")
        right = evaluate(spec.get("RightValue"), context, step, f"{path}.RightValue")
        if kind == "Equals":
            return bool(left == right)
        for side, value in (("LeftValue", left), ("RightValue", right)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DryRunError(step, f"{path}.{side}", f"{kind} compares numbers; got {value!r}")
        return bool(
            {
                "GreaterThan": left > right,
                "GreaterThanOrEqualTo": left >= right,
                "LessThan": left < right,
                "LessThanOrEqualTo": left <= right,
            }[kind]
        )
    if kind == "In":
        query = evaluate(spec.get("QueryValue"), context, step, f"{path}.QueryValue")
        values = evaluate(spec.get("Values", []), context, step, f"{path}.Values")
        return query in values
    if kind == "Not":
        return not condition(spec.get("Expression"), context, step, f"{path}.Expression")
    if kind == "Or":
        items = spec.get("Conditions", [])
        return any(
            condition(c, context, step, f"{path}.Conditions[{i}]") for i, c in enumerate(items)
        )
    raise DryRunError(step, f"{path}.Type", f"a condition type SageMaker knows, not {kind!r}")
