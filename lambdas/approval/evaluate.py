"""The approve / reject / hold decision on metric values alone (pure: no AWS).

Each threshold is a minimum (higher is better) or a maximum (lower is better), and the
champion comparison follows the primary metric's direction: for rmse, "beats" means
lower.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import Direction, Threshold

Verdict = Literal["approve", "reject", "hold"]


@dataclass(frozen=True)
class Metrics:
    """A package's evaluation metrics, or why they could not be read."""

    values: Mapping[str, float] | None
    source: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Champion:
    """The latest Approved package of the group and its metrics."""

    version: int
    arn: str
    metrics: Metrics


@dataclass(frozen=True)
class Evaluation:
    """The decision for a candidate and the reason, as written to ApprovalDescription."""

    verdict: Verdict
    reason: str
    failed: list[str] = field(default_factory=list)
    """Metrics outside their threshold (a reject)."""


def metric_values(report: Any) -> dict[str, float]:
    """Metric name -> value from a SageMaker model quality report.

    Reads every section (``binary_classification_metrics``, ``regression_metrics``, ...)
    whose entries look like ``{"value": 0.95, "standard_deviation": 0.01}``.
    """
    values: dict[str, float] = {}
    if not isinstance(report, dict):
        return values
    for section in report.values():
        if not isinstance(section, dict):
            continue
        for name, entry in section.items():
            value = entry.get("value") if isinstance(entry, dict) else entry
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[name] = float(value)
    return values


def beats(ours: float, theirs: float, direction: Direction) -> bool:
    """Whether `ours` is strictly better than `theirs` in `direction`."""
    return ours > theirs if direction == "higher" else ours < theirs


def _miss(name: str, value: float, threshold: Threshold) -> str:
    sign = "<" if threshold.direction == "higher" else ">"
    return f"{name} {value:.4g} {sign} {threshold.kind} {threshold.limit:.4g}"


def evaluate(
    candidate: Metrics,
    thresholds: Mapping[str, Threshold],
    primary_metric: str,
    champion: Champion | None,
    *,
    direction: Direction = "higher",
) -> Evaluation:
    """Decide approve / reject / hold.

    Reject when a metric is below its minimum or above its maximum. Approve when every
    threshold is met and the candidate is strictly better than the champion on the
    primary metric (in `direction`), or there is no champion. Hold (leave pending for a
    person) when the candidate cannot be judged (no report, a metric missing, the
    champion's report unreadable) or does not beat the champion.
    """
    if candidate.values is None:
        return Evaluation("hold", f"cannot evaluate: {candidate.error}")
    values = candidate.values
    missing = sorted(set(thresholds) - set(values))
    if missing:
        return Evaluation("hold", f"cannot evaluate: the report has no {', '.join(missing)}")
    failed = [name for name, bar in thresholds.items() if not bar.passes(values[name])]
    if failed:
        detail = ", ".join(_miss(n, values[n], thresholds[n]) for n in failed)
        return Evaluation("reject", f"outside the quality bar: {detail}", failed)
    if primary_metric not in values:
        return Evaluation("hold", f"cannot compare: the report has no {primary_metric}")
    if champion is None:
        return Evaluation(
            "approve", "meets every quality threshold; no approved champion in the group"
        )
    ours = values[primary_metric]
    theirs = (champion.metrics.values or {}).get(primary_metric)
    if theirs is None:
        why = champion.metrics.error or f"its report has no {primary_metric}"
        return Evaluation(
            "hold",
            f"meets every threshold; cannot compare with champion v{champion.version}: {why}",
        )
    comparison = f"{primary_metric} {ours:.4g} vs {theirs:.4g}, {direction} is better"
    if beats(ours, theirs, direction):
        return Evaluation(
            "approve",
            f"meets every quality threshold and beats champion v{champion.version} ({comparison})",
        )
    return Evaluation(
        "hold",
        f"meets every quality threshold but does not beat champion v{champion.version}"
        f" ({comparison})",
    )
