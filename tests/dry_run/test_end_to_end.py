"""Both reference pipelines, run end to end from the synthesized assembly ONCE per test
session (`e2e`); the other tests here read that run or reuse its cache."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from constructs_lib.dry_run import Options, PipelineRun, checks, diagram, dry_run
from constructs_lib.dry_run.__main__ import main
from constructs_lib.dry_run.assembly import Assembly

from .conftest import (
    CLASSIFIER,
    CLASSIFIER_STACK,
    REGRESSOR,
    datasets,
    mutated,
    replace_once,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BUDGET_SECONDS = 60.0
CORE_STEPS = (
    "Preprocess",
    "Train",
    "Evaluate",
    "DataQualityBaseline",
    "QualityGate",
    "RegisterModel",
)
"""Steps every reference build pipeline has (the check and model steps vary by package)."""
pytestmark = pytest.mark.dry_run_e2e


@dataclass(frozen=True)
class EndToEnd:
    runs: dict[str, PipelineRun]
    options: Options
    seconds: float


@pytest.fixture(scope="module")
def e2e(assembly_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> EndToEnd:
    work = tmp_path_factory.mktemp("dry-run")
    options = Options(
        workdir=work / "work",
        datasets=datasets(work / "data"),
        repo_root=REPO_ROOT,
        echo=lambda _: None,
    )
    started = time.monotonic()
    runs = dry_run(assembly_dir, options)
    return EndToEnd({r.pipeline: r for r in runs}, options, time.monotonic() - started)


@pytest.mark.parametrize("pipeline", [CLASSIFIER, REGRESSOR])
def test_the_reference_pipeline_runs_end_to_end(e2e: EndToEnd, pipeline: str) -> None:
    run = e2e.runs[pipeline]
    assert (run.status, run.error) == ("Succeeded", None)
    ran = {s.name: (s.status, s.ran) for s in run.steps}
    assert {k: ran.pop(k) for k in [*CORE_STEPS, "ModelQualityTooLow"]} == {
        "Preprocess": ("Succeeded", "REAL"),
        "Train": ("Succeeded", "REAL"),
        "Evaluate": ("Succeeded", "REAL"),
        "DataQualityBaseline": ("Succeeded", "STAND-IN"),
        "QualityGate": ("Succeeded", "EVALUATED"),
        "RegisterModel": ("Succeeded", "REAL"),
        "ModelQualityTooLow": ("Skipped", "-"),
    }
    expected = {"QualityCheck": "STAND-IN", "ClarifyCheck": "STAND-IN", "Model": "EVALUATED"}
    assert ran == {s.name: ("Succeeded", expected[s.type]) for s in run.steps if s.name in ran}
    assert run.seconds < BUDGET_SECONDS, f"{pipeline} took {run.seconds:.1f}s"


@pytest.mark.parametrize("pipeline", [CLASSIFIER, REGRESSOR])
def test_the_approval_function_opens_the_promotion_pull_request(
    e2e: EndToEnd, pipeline: str
) -> None:
    approval = e2e.runs[pipeline].approval
    assert approval is not None
    assert (
        approval.package_arn
        == f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/{pipeline}/1"
    )
    assert approval.statuses == ["PendingManualApproval", "Approved"]
    actions = [d.result["action"] for d in approval.deliveries if isinstance(d.result, dict)]
    assert actions == ["notified", "pull-request-opened"]
    (pull,) = approval.pull_requests
    assert (pull.head, pull.base) == (f"promote/{pipeline}-v1-staging", "main")
    assert f"  {pipeline}:\n    staging: 1\n" in pull.changes["config/promotion.yaml"]
    assert [n["Subject"] for n in approval.notifications] == [
        f"{pipeline} v1 awaits approval (suggested: approve)"
    ]


def test_the_baseline_stand_in_writes_the_analyzer_files(e2e: EndToEnd) -> None:
    baselines = sorted(
        (e2e.options.workdir / "s3").rglob("DataQualityBaseline/baseline/statistics.json")
    )
    statistics = json.loads(baselines[0].read_text())
    assert statistics["dataset"]["item_count"] > 0
    feature = statistics["features"][0]
    assert set(feature["numerical_statistics"]) >= {
        "common",
        "mean",
        "sum",
        "std_dev",
        "min",
        "max",
        "distribution",
    }
    constraints = json.loads(baselines[0].with_name("constraints.json").read_text())
    assert (
        constraints["monitoring_config"]["distribution_constraints"]["comparison_method"]
        == "Robust"
    )


def test_a_second_run_reuses_the_cached_steps(e2e: EndToEnd, assembly_dir: Path) -> None:
    (run,) = dry_run(assembly_dir, e2e.options, [CLASSIFIER])
    assert run.status == "Succeeded"
    cached = [s.name for s in run.steps if s.ran == "CACHED"]
    assert cached[:4] == ["Preprocess", "Train", "Evaluate", "DataQualityBaseline"]
    assert {s.type for s in run.steps if s.ran == "CACHED"} <= {
        "Processing",
        "Training",
        "QualityCheck",
        "ClarifyCheck",
    }
    assert run.step("Preprocess").note == f"from execution {e2e.runs[CLASSIFIER].execution_id}"


def test_a_json_get_path_the_report_lacks_is_found_only_by_running(
    e2e: EndToEnd, assembly_dir: Path, tmp_path: Path
) -> None:
    change = replace_once(
        '"Path":"binary_classification_metrics.accuracy.value"',
        '"Path":"binary_classification_metrics.acc.value"',
    )
    copy = mutated(assembly_dir, tmp_path / "cdk.out", CLASSIFIER_STACK, change)
    (source,) = [p for p in Assembly.load(copy).pipelines() if p.name == CLASSIFIER]
    checks.check(source.definition, {})  # statically fine: only the report can tell
    (run,) = dry_run(copy, e2e.options, [CLASSIFIER])
    assert run.error is not None
    assert run.error.startswith(
        "QualityGate: Conditions[0].LeftValue: JsonGet path"
        " 'binary_classification_metrics.acc.value' not in evaluation.json (keys: accuracy, auc,"
    )
    assert run.step("Evaluate").ran == "CACHED"  # the upstream steps came from the cache
    assert run.step("QualityGate").status == "Failed"


def test_a_failing_quality_gate_runs_the_fail_step_with_its_message(
    e2e: EndToEnd, assembly_dir: Path
) -> None:
    options = Options(**{**e2e.options.__dict__, "parameters": {"ModelQualityThreshold": "1.5"}})
    (run,) = dry_run(assembly_dir, options, [CLASSIFIER])
    assert run.status == "Failed"
    assert run.error is not None
    assert run.error.startswith(
        "ModelQualityTooLow: Model quality too low: binary_classification_metrics.accuracy.value ="
    )
    assert run.error.endswith("is below ModelQualityThreshold = 1.5")
    assert run.step("RegisterModel").status == "Skipped"


def test_the_mermaid_picture_shows_each_steps_status(e2e: EndToEnd, assembly_dir: Path) -> None:
    (source,) = [p for p in Assembly.load(assembly_dir).pipelines() if p.name == REGRESSOR]
    picture = diagram(source.definition, e2e.runs[REGRESSOR])
    assert (
        'DataQualityBaseline["DataQualityBaseline<br/>Processing<br/>Succeeded STAND-IN"]'
        in picture
    )
    assert "class ModelQualityTooLow skipped" in picture


def test_the_command_line_exits_2_on_a_wiring_error(
    e2e: EndToEnd, assembly_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = mutated(
        assembly_dir,
        tmp_path / "cdk.out",
        CLASSIFIER_STACK,
        replace_once(
            "Steps.Evaluate.PropertyFiles.EvaluationReport", "Steps.Evaluate.PropertyFiles.Report"
        ),
    )
    code = main(
        [
            "--assembly",
            str(copy),
            "--workdir",
            str(tmp_path / "w"),
            "--pipeline",
            CLASSIFIER,
            "--check",
        ]
    )
    assert code == 2
    assert (
        "dry run: QualityGate: Conditions[0].LeftValue: Get Steps.Evaluate.PropertyFiles.Report"
        in capsys.readouterr().err
    )
