"""Edit the promotion manifest's text: change one model's pinned version in one environment.

The manifest (`config/promotion.yaml`) is reviewed in pull requests, so an edit must
change exactly one line and keep every comment, blank line and the layout. A YAML
round-trip would not, and the Lambda has no YAML library; this module edits the line
in place. It understands the block layout the manifest uses::

    models:
      tabular-classifier:
        staging: 7   # comments are kept
        prod: 5
      diabetes-regressor:
        staging: null   # nothing approved yet: not served there
        prod: null

Standard library only: `tools/promote.py` imports it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOP_KEY = re.compile(r"^models[ \t]*:[ \t]*(?:#.*)?$")
_KEY = re.compile(
    r"""^(?P<indent>[ ]+)(?P<q>["']?)(?P<key>[A-Za-z0-9_.-]+)(?P=q)[ \t]*:(?P<rest>.*)$"""
)
_VALUE = re.compile(r"^(?P<sep>[ \t]*)(?P<value>[^#]*?)(?P<comment>[ \t]*#.*)?$")
_INTEGER = re.compile(r"[0-9]+")
_NULLS = {"", "null", "Null", "NULL", "~"}


class ManifestError(ValueError):
    """The manifest text does not have the model, environment or value to read or edit."""


@dataclass(frozen=True)
class _Line:
    index: int
    body: str  # the line without its line ending
    ending: str


def _lines(text: str) -> list[_Line]:
    result = []
    for index, raw in enumerate(text.splitlines(keepends=True)):
        body = raw.rstrip("\r\n")
        result.append(_Line(index, body, raw[len(body) :]))
    return result


def _is_content(line: _Line) -> bool:
    stripped = line.body.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: _Line) -> int:
    return len(line.body) - len(line.body.lstrip(" "))


def _children(lines: list[_Line], start: int, parent_indent: int) -> list[_Line]:
    """Content lines after `start` indented deeper than `parent_indent`, up to the block end."""
    block = []
    for line in lines[start + 1 :]:
        if not _is_content(line):
            continue
        if _indent(line) <= parent_indent:
            break
        block.append(line)
    return block


def _mapping(block: list[_Line]) -> dict[str, _Line]:
    """The keys at the block's first indentation level, in order."""
    if not block:
        return {}
    level = _indent(block[0])
    keys = {}
    for line in block:
        match = _KEY.match(line.body)
        if _indent(line) == level and match:
            keys[match["key"]] = line
    return keys


def _inline_value(line: _Line) -> str:
    """The value written after `key:` on the line itself ('' for a block mapping)."""
    key = _KEY.match(line.body)
    value = _VALUE.match(key["rest"]) if key else None
    return value["value"] if value else ""


def _models(text: str) -> tuple[list[_Line], dict[str, _Line]]:
    lines = _lines(text)
    top = next((ln for ln in lines if _TOP_KEY.match(ln.body)), None)
    if top is None:
        raise ManifestError("no top-level 'models:' mapping in the promotion manifest")
    return lines, _mapping(_children(lines, top.index, 0))


def _pins(lines: list[_Line], models: dict[str, _Line], model: str) -> dict[str, _Line]:
    """The environment lines of `model` (`models.<model>.<env>: <version>`)."""
    model_line = models.get(model)
    if model_line is None:
        raise ManifestError(
            f"model {model!r} is not in the promotion manifest; models: {list(models)}"
        )
    inline = _inline_value(model_line)
    if inline:
        raise ManifestError(
            f"models.{model}: expected a block mapping of environment -> version on the"
            f" following lines, got an inline value {inline!r}"
        )
    return _mapping(_children(lines, model_line.index, _indent(model_line)))


def _version(lines: list[_Line], model: str, environment: str, line: _Line) -> int | None:
    value = _inline_value(line).strip()
    nested = value == "" and bool(_children(lines, line.index, _indent(line)))
    if value in _NULLS and not nested:
        return None
    if _INTEGER.fullmatch(value) and int(value) >= 1:
        return int(value)
    raise ManifestError(
        f"models.{model}.{environment}: got {'a nested mapping' if nested else repr(value)};"
        " allowed a positive integer (a model package version) or null"
    )


def model_names(text: str) -> list[str]:
    """The models the manifest lists, in file order."""
    return list(_models(text)[1])


def environment_names(text: str, model: str) -> list[str]:
    """The environments the manifest lists for `model`, in file order."""
    lines, models = _models(text)
    return list(_pins(lines, models, model))


def versions(text: str) -> dict[str, dict[str, int | None]]:
    """Every pin, as this module reads the layout: model -> environment -> version.

    Raises `ManifestError` for a value that is neither a positive integer nor null.
    """
    lines, models = _models(text)
    return {
        model: {
            env: _version(lines, model, env, line)
            for env, line in _pins(lines, models, model).items()
        }
        for model in models
    }


def set_version(text: str, model: str, environment: str, version: int | None) -> str:
    """Return `text` with `models.<model>.<environment>` set to `version`.

    `None` writes `null` (the model is not served there). Only that one line changes;
    its trailing comment and line ending are kept, and every other model's pins are left
    alone. Raises `ManifestError` when the model or its environment key is missing.
    """
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 1
    ):
        raise ManifestError(f"version: got {version!r}; expected a positive integer or None")
    lines, models = _models(text)
    pins = _pins(lines, models, model)
    pin = pins.get(environment)
    if pin is None:
        raise ManifestError(
            f"models.{model} has no {environment!r} key; environments: {list(pins)}"
        )
    _version(lines, model, environment, pin)  # the line holds a version or null, nothing else
    key_match = _KEY.match(pin.body)
    value_match = _VALUE.match(key_match["rest"]) if key_match else None
    assert key_match is not None and value_match is not None  # the value regex matches any text
    new_value = "null" if version is None else str(version)
    body = (
        f"{key_match['indent']}{key_match['q']}{environment}{key_match['q']}:"
        f"{value_match['sep'] or ' '}{new_value}{value_match['comment'] or ''}"
    )
    raw = [line.body + line.ending for line in lines]
    raw[pin.index] = body + pin.ending
    return "".join(raw)
