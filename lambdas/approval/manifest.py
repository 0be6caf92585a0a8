"""Edit the promotion manifest's text: change one environment's pinned version.

The manifest (`config/promotion.yaml`) is reviewed in pull requests, so an edit must
change exactly one line and keep every comment, blank line and the layout. A YAML
round-trip would not, and the Lambda has no YAML library; this module edits the line
in place. It understands the block layout the manifest uses::

    environments:
      staging:
        model_package_group: tabular-classifier
        version: 7   # comments are kept

Standard library only: `tools/promote.py` imports it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOP_KEY = re.compile(r"^environments[ \t]*:[ \t]*(?:#.*)?$")
_KEY = re.compile(
    r"""^(?P<indent>[ ]+)(?P<q>["']?)(?P<key>[A-Za-z0-9_.-]+)(?P=q)[ \t]*:(?P<rest>.*)$"""
)
_VALUE = re.compile(r"^(?P<sep>[ \t]*)(?P<value>[^#]*?)(?P<comment>[ \t]*#.*)?$")


class ManifestError(ValueError):
    """The manifest text does not have the environment or key to edit."""


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


def _environments(text: str) -> tuple[list[_Line], dict[str, _Line]]:
    lines = _lines(text)
    top = next((ln for ln in lines if _TOP_KEY.match(ln.body)), None)
    if top is None:
        raise ManifestError("no top-level 'environments:' mapping in the promotion manifest")
    return lines, _mapping(_children(lines, top.index, 0))


def environment_names(text: str) -> list[str]:
    """The environments the manifest lists, in file order."""
    return list(_environments(text)[1])


def set_version(text: str, environment: str, version: int | None) -> str:
    """Return `text` with `environments.<environment>.version` set to `version`.

    `None` writes `null` (the environment serves no model). Only that one line changes;
    its trailing comment and line ending are kept. Raises `ManifestError` when the
    environment or its `version` key is missing.
    """
    if version is not None and (isinstance(version, bool) or version < 1):
        raise ManifestError(f"version: got {version!r}; expected a positive integer or None")
    lines, environments = _environments(text)
    env_line = environments.get(environment)
    if env_line is None:
        raise ManifestError(
            f"environment {environment!r} is not in the promotion manifest;"
            f" environments: {list(environments)}"
        )
    inline = _inline_value(env_line)
    if inline:
        raise ManifestError(
            f"environments.{environment}: expected a block mapping on the following lines,"
            f" got an inline value {inline!r}"
        )
    keys = _mapping(_children(lines, env_line.index, _indent(env_line)))
    version_line = keys.get("version")
    if version_line is None:
        raise ManifestError(f"environments.{environment} has no 'version' key; keys: {list(keys)}")
    key_match = _KEY.match(version_line.body)
    value_match = _VALUE.match(key_match["rest"]) if key_match else None
    assert key_match is not None and value_match is not None  # the value regex matches any text
    new_value = "null" if version is None else str(version)
    body = (
        f"{key_match['indent']}{key_match['q']}version{key_match['q']}:"
        f"{value_match['sep'] or ' '}{new_value}{value_match['comment'] or ''}"
    )
    raw = [line.body + line.ending for line in lines]
    raw[version_line.index] = body + version_line.ending
    return "".join(raw)
