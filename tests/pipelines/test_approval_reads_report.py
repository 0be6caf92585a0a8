"""The approval function reads the evaluation report the real evaluate step writes.

The report comes from the session's local run of the step scripts (``local_pipeline_run``
from ``tests/pipelines/conftest.py``); it is served to the function's ``read_metrics``
through a minimal S3 stand-in at the location the registered package names.
"""

from __future__ import annotations

import io
import json
from typing import Any

from config.settings import load_settings
from constructs_lib.metrics import REPORT_METRICS
from lambdas.approval.logic import metric_values, read_metrics
from pipelines.tabular_classifier.steps import evaluate

from .local_run import LocalPipelineRun

BUCKET = "mlops-artifacts-123456789012"
KEY = "pipelines/tabular-classifier/execution-1/EvaluateModel/output/evaluation/evaluation.json"


class OneObjectS3:
    """`get_object` for the one report object (anything else is a test error)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3 names
        assert (Bucket, Key) == (BUCKET, KEY)
        return {"Body": io.BytesIO(self.body)}


def test_approval_reads_every_configured_metric_from_the_real_report(
    local_pipeline_run: LocalPipelineRun,
) -> None:
    approval = load_settings().models["tabular-classifier"].approval
    wanted = {*approval.thresholds, approval.primary_metric}
    assert wanted <= set(approval.report_metrics or ())
    package = {
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{BUCKET}/{KEY}",
                }
            }
        }
    }
    body = local_pipeline_run.evaluation_json.read_bytes()

    metrics = read_metrics(OneObjectS3(body), package)

    assert metrics.error is None and metrics.source == f"s3://{BUCKET}/{KEY}"
    assert metrics.values is not None
    missing = wanted - set(metrics.values)
    assert not missing, f"the report lacks {sorted(missing)}; it has {sorted(metrics.values)}"
    for name in sorted(wanted):
        assert 0.0 <= metrics.values[name] <= 1.0, (name, metrics.values[name])
    assert metric_values(json.loads(body)) == dict(metrics.values)


def test_declared_report_metrics_are_what_the_evaluate_step_writes(
    local_pipeline_run: LocalPipelineRun,
) -> None:
    """The classifier's `report_metrics` (what ModelApproval refuses thresholds outside of)
    are exactly the scalar metrics of the real report, all of SageMaker's binary
    classification section (so their direction is known)."""
    declared = load_settings().models["tabular-classifier"].approval.report_metrics
    report = json.loads(local_pipeline_run.evaluation_json.read_bytes())
    (section,) = report
    assert section == "binary_classification_metrics"
    assert declared is not None
    assert sorted(declared) == sorted(evaluate.METRICS) == sorted(metric_values(report))
    assert set(declared) <= set(REPORT_METRICS["binary_classification"])
