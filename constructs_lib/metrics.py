"""Model quality metrics: which way is better, and which names a report can contain.

`ModelApproval` judges a candidate against `MetricThreshold`s and compares it with the
approved champion on a primary metric. Both need the metric's direction: accuracy and
auc are better when higher, rmse and mae when lower. The table below is SageMaker's
model quality report (the sections and names of Model Monitor's "model quality
metrics"), so names from it need no declared direction:

    MetricThreshold(metric="accuracy", minimum=0.9)   # at least 0.9
    MetricThreshold(metric="rmse", maximum=3.5)       # at most 3.5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Direction = Literal["higher", "lower"]
"""Which way a metric is better: `higher` (accuracy, auc, r2) or `lower` (rmse, mae)."""

ProblemType = Literal["binary_classification", "multiclass_classification", "regression"]
"""A SageMaker model quality report's problem type; its metrics are in the section
`<problem_type>_metrics` (e.g. `regression_metrics`)."""

DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
PROBLEM_TYPES: tuple[ProblemType, ...] = get_args(ProblemType)


def _higher(*names: str) -> dict[str, Direction]:
    return dict.fromkeys(names, "higher")


_BEST_CONSTANT = ("accuracy", "precision", "recall", "f0_5", "f1", "f2")
_WEIGHTED = ("weighted_recall", "weighted_precision", "weighted_f0_5", "weighted_f1", "weighted_f2")

REPORT_METRICS: Mapping[ProblemType, Mapping[str, Direction]] = {
    "binary_classification": {
        **_higher("accuracy", "precision", "recall", "f0_5", "f1", "f2", "auc", "au_prc"),
        **_higher("true_positive_rate", "true_negative_rate"),
        "false_positive_rate": "lower",
        "false_negative_rate": "lower",
        **_higher(*(f"{m}_best_constant_classifier" for m in _BEST_CONSTANT)),
    },
    "multiclass_classification": {
        **_higher("accuracy", *_WEIGHTED),
        **_higher(*(f"{m}_best_constant_classifier" for m in ("accuracy", *_WEIGHTED))),
    },
    "regression": {"mae": "lower", "mse": "lower", "rmse": "lower", "r2": "higher"},
}
"""Scalar metrics of SageMaker's model quality report per problem type, with their
direction (the confusion matrix and curves are not scalars)."""

KNOWN_DIRECTIONS: Mapping[str, Direction] = {
    name: direction for metrics in REPORT_METRICS.values() for name, direction in metrics.items()
}
"""Metric name -> direction for every name in `REPORT_METRICS`."""


@dataclass(frozen=True, kw_only=True)
class MetricThreshold:
    """A quality bar on one metric of the evaluation report: a minimum or a maximum.

    A minimum means higher is better, a maximum lower is better; for a metric of
    SageMaker's report the bound must match its known direction (rmse takes a maximum).
    """

    metric: str
    """Metric name as the report spells it (`accuracy`, `rmse`...). Required."""
    minimum: float | None = None
    """Lowest acceptable value (inclusive). Default none; give exactly one of minimum
    and maximum."""
    maximum: float | None = None
    """Highest acceptable value (inclusive). Default none; give exactly one of minimum
    and maximum."""

    def __post_init__(self) -> None:
        # Imported here so the tables load without aws-cdk-lib (settings files use them).
        from constructs_lib._validate import Checks, Shown

        check = Checks("MetricThreshold")
        check.text("metric", self.metric, allowed="a metric name")
        if isinstance(self.metric, str) and not self.metric.strip():
            check.fail("metric", self.metric, "a metric name")
        for prop in ("minimum", "maximum"):
            value = getattr(self, prop)
            if value is not None:
                check.number(prop, value)
        if (self.minimum is None) == (self.maximum is None):
            check.fail(
                "minimum/maximum",
                Shown("both" if self.minimum is not None else "neither"),
                "exactly one: minimum for higher-is-better, maximum for lower-is-better",
            )
        if (
            check.ok()
            and self.metric in KNOWN_DIRECTIONS
            and self.direction != (known := KNOWN_DIRECTIONS[self.metric])
        ):
            bound = "minimum" if self.minimum is not None else "maximum"
            check.fail(
                bound,
                Shown(f"a {bound} for {self.metric}"),
                f"a {'minimum' if known == 'higher' else 'maximum'}: {self.metric} is better"
                f" when {known}",
            )
        check.done()

    @property
    def direction(self) -> Direction:
        """`higher` for a minimum, `lower` for a maximum."""
        return "higher" if self.minimum is not None else "lower"

    @property
    def bound(self) -> float:
        """The minimum or the maximum, whichever is set."""
        value = self.minimum if self.minimum is not None else self.maximum
        assert value is not None  # __post_init__ requires exactly one
        return float(value)
