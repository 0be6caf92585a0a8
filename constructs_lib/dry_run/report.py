"""The end-of-run table and the approval summary, as plain text."""

from __future__ import annotations

from constructs_lib.dry_run.runner import PipelineRun
from constructs_lib.dry_run.standins import STAND_INS

RAN = {
    "REAL": "the step's own code",
    "STAND-IN": "a local stand-in for a built-in image",
    "CACHED": "reused from an earlier run (CacheConfig)",
    "EVALUATED": "evaluated by the dry run (no job)",
}


def table(runs: list[PipelineRun]) -> str:
    rows = [("Pipeline", "Step", "Type", "Ran", "Status", "Time", "Note")]
    for run in runs:
        for step in run.steps:
            rows.append(
                (
                    run.pipeline,
                    step.name,
                    step.type,
                    step.ran,
                    step.status,
                    f"{step.seconds:.1f}s",
                    step.note[:70],
                )
            )
        rows.append((run.pipeline, "(pipeline)", "", "", run.status, f"{run.seconds:.1f}s", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for position, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
        )
        if position == 0:
            lines.append("  ".join("-" * width for width in widths) + "  ----")
    return "\n".join(line.rstrip() for line in lines)


def details(run: PipelineRun) -> str:
    lines = [
        f"{run.pipeline}: {run.status} in {run.seconds:.1f}s (execution {run.execution_id}, container paths: {run.mode})"
    ]
    if run.error:
        lines.append(f"  error: {run.error}")
    approval = run.approval
    if approval is not None:
        lines.append(f"  registered {approval.package_arn}: {' -> '.join(approval.statuses)}")
        for delivery in approval.deliveries:
            status = delivery.event["detail"].get("ModelApprovalStatus")
            outcome = delivery.error or (
                delivery.result.get("action")
                if isinstance(delivery.result, dict)
                else delivery.result
            )
            lines.append(f"  event {status} -> {delivery.function}: {outcome}")
        for pull in approval.pull_requests:
            lines.append(f"  pull request #{pull.number} {pull.head} -> {pull.base}: {pull.title}")
            for path in pull.changes:
                lines.append(f"    changes {path}")
        for note in approval.notifications:
            lines.append(f"  notification: {note.get('Subject')}")
    return "\n".join(lines)


def legend() -> str:
    lines = ["Ran: " + "; ".join(f"{k} = {v}" for k, v in RAN.items())]
    lines.append("Stand-ins: " + "; ".join(STAND_INS.values()))
    return "\n".join(lines)
