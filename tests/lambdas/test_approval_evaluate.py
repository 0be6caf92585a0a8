"""The approve / reject / hold decision, on metric values alone (no AWS)."""

from __future__ import annotations

import pytest

from lambdas.approval.config import Direction, Threshold
from lambdas.approval.evaluate import Champion, Metrics, evaluate, metric_values

THRESHOLDS = {"accuracy": Threshold(0.9), "auc": Threshold(0.9)}
REGRESSION = {"rmse": Threshold(3.5, "lower"), "r2": Threshold(0.5)}
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/tabular-classifier/6"


def champion(**values: float) -> Champion:
    return Champion(version=6, arn=ARN, metrics=Metrics(values, "s3://b/6.json"))


def judge(
    candidate: dict[str, float] | None,
    best: Champion | None = None,
    *,
    thresholds: dict[str, Threshold] = THRESHOLDS,
    primary: str = "accuracy",
    direction: Direction = "higher",
) -> tuple[str, str]:
    metrics = Metrics(candidate, error=None if candidate is not None else "no report")
    result = evaluate(metrics, thresholds, primary, best, direction=direction)
    return result.verdict, result.reason


def test_below_a_threshold_rejects_and_says_which() -> None:
    verdict, reason = judge({"accuracy": 0.95, "auc": 0.87}, champion(accuracy=0.5, auc=0.5))
    assert verdict == "reject" and reason == "outside the quality bar: auc 0.87 < minimum 0.9"


def test_threshold_is_a_minimum_so_equal_passes() -> None:
    assert judge({"accuracy": 0.9, "auc": 0.9})[0] == "approve"


def test_no_champion_approves() -> None:
    assert judge({"accuracy": 0.95, "auc": 0.96}) == (
        "approve",
        "meets every quality threshold; no approved champion in the group",
    )


def test_beating_the_champion_approves() -> None:
    verdict, reason = judge({"accuracy": 0.95, "auc": 0.96}, champion(accuracy=0.93, auc=0.99))
    assert (
        verdict == "approve"
        and "beats champion v6 (accuracy 0.95 vs 0.93, higher is better)" in reason
    )


@pytest.mark.parametrize("theirs", [0.95, 0.97])
def test_tying_or_losing_to_the_champion_holds(theirs: float) -> None:
    verdict, reason = judge({"accuracy": 0.95, "auc": 0.96}, champion(accuracy=theirs, auc=0.9))
    assert verdict == "hold" and "does not beat champion v6" in reason


def test_missing_report_or_metric_holds() -> None:
    assert judge(None) == ("hold", "cannot evaluate: no report")
    assert judge({"accuracy": 0.95}) == ("hold", "cannot evaluate: the report has no auc")


def test_unreadable_champion_report_holds() -> None:
    unreadable = Champion(6, ARN, Metrics(None, "s3://b/6.json", "the report is not valid JSON"))
    verdict, reason = judge({"accuracy": 0.95, "auc": 0.96}, unreadable)
    assert verdict == "hold" and "cannot compare with champion v6" in reason


def test_metric_values_reads_every_section() -> None:
    report = {
        "binary_classification_metrics": {
            "accuracy": {"value": 0.95, "standard_deviation": 0.01},
            "confusion_matrix": {"0": {"0": 10}},
        },
        "regression_metrics": {"mse": {"value": 1.5}},
        "version": 0,
    }
    assert metric_values(report) == {"accuracy": 0.95, "mse": 1.5}
    assert metric_values(["not", "a", "report"]) == {}


def test_above_a_maximum_rejects_and_says_which() -> None:
    verdict, reason = judge({"rmse": 3.6, "r2": 0.8}, thresholds=REGRESSION, primary="rmse")
    assert verdict == "reject" and reason == "outside the quality bar: rmse 3.6 > maximum 3.5"


def test_threshold_maximum_is_inclusive() -> None:
    verdict, _ = judge({"rmse": 3.5, "r2": 0.5}, thresholds=REGRESSION, primary="rmse")
    assert verdict == "approve"


@pytest.mark.parametrize(
    ("ours", "theirs", "verdict"), [(3.1, 3.4, "approve"), (3.4, 3.1, "hold"), (3.4, 3.4, "hold")]
)
def test_lower_is_better_primary_beats_the_champion_by_being_lower(
    ours: float, theirs: float, verdict: str
) -> None:
    best = champion(rmse=theirs, r2=0.8)
    result = judge(
        {"rmse": ours, "r2": 0.8}, best, thresholds=REGRESSION, primary="rmse", direction="lower"
    )
    assert result[0] == verdict and f"rmse {ours:.4g} vs {theirs:.4g}, lower is better" in result[1]
