"""Each pipeline's DAG as a Mermaid flowchart, from its synthesized definition.

`diagram(definition)` draws every step (conditions as diamonds, `Fail` steps as
stadiums) and an arrow for each dependency, explicit or through data (a
dependency already implied by another is not drawn); a condition's
arrows to its branches read `if` and `else`. Given a run, each step is coloured by
status and labelled with how it ran (REAL, STAND-IN, CACHED).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from constructs_lib.dry_run import checks
from constructs_lib.dry_run.runner import PipelineRun

_STYLES = {
    "Succeeded": "fill:#d3f9d8,stroke:#2b8a3e",
    "Failed": "fill:#ffe3e3,stroke:#c92a2a",
    "Skipped": "fill:#f1f3f5,stroke:#adb5bd,color:#868e96",
    "NotRun": "fill:#f1f3f5,stroke:#adb5bd,color:#868e96",
}


def node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def diagram(definition: Mapping[str, Any], run: PipelineRun | None = None) -> str:
    """The flowchart text (no fences)."""
    graph = checks.flatten(definition)
    order = graph.order()
    lines = ["flowchart LR"]
    for name in order:
        info = graph.steps[name]
        label = f"{name}<br/>{info.type}"
        if run is not None:
            step = run.step(name)
            label += f"<br/>{step.status}" + (
                f" {step.ran}" if step.ran not in ("-", "EVALUATED") else ""
            )
        if info.type == "Condition":
            shape = f'{{"{label}"}}'
        elif info.type == "Fail":
            shape = f'(["{label}"])'
        else:
            shape = f'["{label}"]'
        lines.append(f"  {node_id(name)}{shape}")
    for name in order:
        info = graph.steps[name]
        for need in sorted(_direct(graph, name), key=lambda n: graph.steps[n].index):
            if need == info.condition:
                word = "if" if info.branch == "IfSteps" else "else"
                lines.append(f"  {node_id(need)} -- {word} --> {node_id(name)}")
            else:
                lines.append(f"  {node_id(need)} --> {node_id(name)}")
    if run is not None:
        for status, style in _STYLES.items():
            members = [node_id(s.name) for s in run.steps if s.status == status]
            if members:
                lines.append(f"  classDef {status.lower()} {style}")
                lines.append(f"  class {','.join(members)} {status.lower()}")
    return "\n".join(lines) + "\n"


def _direct(graph: checks.Graph, name: str) -> set[str]:
    """What `name` needs, minus what it already waits for through another need
    (a transitive reduction; a condition's branch arrows are always kept)."""
    info = graph.steps[name]

    def ancestors(step: str) -> set[str]:
        found: set[str] = set()
        todo = list(graph.needs[step])
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(graph.needs[current])
        return found

    needs = graph.needs[name]
    implied = set().union(*(ancestors(n) for n in needs)) if needs else set()
    return {n for n in needs if n not in implied or n == info.condition}


def readme_block(key: str, definition: Mapping[str, Any]) -> str:
    """The README block for one pipeline, between its markers."""
    return f"<!-- dag:{key} -->\n```mermaid\n{diagram(definition)}```\n<!-- /dag:{key} -->\n"
