"""Local stand-ins for built-in images that run no user code.

- The Model Monitor analyzer (`sagemaker-model-monitor-analyzer`) baselining a CSV
  dataset: `statistics.json` and `constraints.json` in the documented schemas
  (Model Monitor "Schema for Statistics" and "Schema for Constraints"), computed
  exactly (the real analyzer uses KLL sketches: bucket bounds and counts differ).
- A built-in algorithm (a training image with neither `sagemaker_program` nor an
  entrypoint): a model folder holding `stand-in-model.json` (the hyperparameters and
  what each channel held), so the steps after it can run their wiring.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

MODEL_MONITOR_ANALYZER = "sagemaker-model-monitor-analyzer"
CLARIFY = "sagemaker-clarify-processing"
BUILT_IN_ALGORITHMS = (
    "blazingtext",
    "factorization-machines",
    "forecasting-deepar",
    "image-classification",
    "ipinsights",
    "kmeans",
    "knn",
    "lda",
    "linear-learner",
    "ntm",
    "object-detection",
    "object2vec",
    "pca",
    "randomcutforest",
    "semantic-segmentation",
    "seq2seq",
    "xgboost",
)
"""Repository names of SageMaker's built-in algorithm images."""
STAND_INS = {
    MODEL_MONITOR_ANALYZER: "Model Monitor analyzer (data-quality and model-quality baselines)",
    CLARIFY: "SageMaker Clarify (post-training bias and SHAP analysis.json)",
    "built-in algorithm": "built-in algorithm (a placeholder model)",
}
"""What each stand-in replaces (for the report and the README)."""


def repository(image: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` -> `<repo>`."""
    name = image.split("/", 1)[-1]
    return name.split("@", 1)[0].split(":", 1)[0]


def processing_stand_in(image: str) -> str | None:
    found = repository(image)
    return found if found in (MODEL_MONITOR_ANALYZER, CLARIFY) else None


def model_monitor_analyzer(environment: Mapping[str, str], local: Callable[[str], Path]) -> str:
    """Baseline the dataset at `dataset_source` into `output_path` (container paths,
    mapped by `local`); a one-line summary."""
    for name in ("dataset_source", "output_path"):
        if name not in environment:
            raise ValueError(f"Environment.{name}: required by the analyzer")
    if "baseline_statistics" in environment or "baseline_constraints" in environment:
        raise ValueError("Environment: the stand-in baselines; monitoring runs are not supported")
    dataset_format = json.loads(environment.get("dataset_format", '{"csv": {"header": true}}'))
    if "csv" not in dataset_format:
        raise ValueError(
            f"Environment.dataset_format: the stand-in reads CSV, got {dataset_format}"
        )
    header = bool(dataset_format["csv"].get("header", True))
    rows: list[list[str]] = []
    names: list[str] = []
    files = sorted(p for p in local(environment["dataset_source"]).rglob("*") if p.is_file())
    if not files:
        raise ValueError(
            f"Environment.dataset_source: no file under {environment['dataset_source']}"
        )
    for path in files:
        with path.open(newline="") as opened:
            reader = csv.reader(opened)
            first = True
            for row in reader:
                if first and header:
                    names = names or row
                    first = False
                    continue
                first = False
                if row:
                    rows.append(row)
    width = max((len(r) for r in rows), default=len(names))
    names = names or [f"_c{i}" for i in range(width)]
    statistics = {"version": 0.0, "dataset": {"item_count": len(rows)}, "features": []}
    constraints: dict[str, Any] = {
        "version": 0.0,
        "features": [],
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": 0.1,
                "comparison_method": "Robust",
            },
        },
    }
    for column, name in enumerate(names):
        values = [r[column] for r in rows if column < len(r) and r[column] != ""]
        feature, constraint = _feature(name, values, len(rows))
        statistics["features"].append(feature)  # type: ignore[attr-defined]
        constraints["features"].append(constraint)
    output = local(environment["output_path"])
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(json.dumps(statistics, indent=2))
    (output / "constraints.json").write_text(json.dumps(constraints, indent=2))
    return f"{len(rows)} rows, {len(names)} features -> statistics.json, constraints.json"


def _feature(name: str, values: list[str], count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    common = {"num_present": len(values), "num_missing": count - len(values)}
    completeness = len(values) / count if count else 1.0
    numbers = _numbers(values)
    if numbers is None:
        distinct: dict[str, int] = {}
        for value in values:
            distinct[value] = distinct.get(value, 0) + 1
        feature = {
            "name": name,
            "inferred_type": "String",
            "string_statistics": {
                "common": common,
                "distinct_count": float(len(distinct)),
                "distribution": {
                    "categorical": {
                        "buckets": [{"value": v, "count": c} for v, c in sorted(distinct.items())]
                    }
                },
            },
        }
        constraint = {
            "name": name,
            "inferred_type": "String",
            "completeness": completeness,
            "string_constraints": {"domains": sorted(distinct)},
        }
        return feature, constraint
    integral = all(float(n).is_integer() for n in numbers) and all("." not in v for v in values)
    kind = "Integral" if integral else "Fractional"
    total = sum(numbers)
    mean = total / len(numbers) if numbers else 0.0
    std_dev = math.sqrt(sum((n - mean) ** 2 for n in numbers) / len(numbers)) if numbers else 0.0
    low, high = (min(numbers), max(numbers)) if numbers else (0.0, 0.0)
    width = (high - low) / 10 or 1.0
    buckets = [
        {"lower_bound": low + i * width, "upper_bound": low + (i + 1) * width, "count": 0.0}
        for i in range(10)
    ]
    for number in numbers:
        buckets[min(int((number - low) / width), 9)]["count"] += 1.0
    feature = {
        "name": name,
        "inferred_type": kind,
        "numerical_statistics": {
            "common": common,
            "mean": mean,
            "sum": total,
            "std_dev": std_dev,
            "min": low,
            "max": high,
            "distribution": {
                "kll": {
                    "buckets": buckets,
                    "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [sorted(numbers)]},
                }
            },
        },
    }
    constraint = {
        "name": name,
        "inferred_type": kind,
        "completeness": completeness,
        "num_constraints": {"is_non_negative": low >= 0},
    }
    return feature, constraint


def _numbers(values: list[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def built_in_algorithm(
    image: str,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, list[str]],
    model_dir: Path,
) -> str:
    """A placeholder model for a built-in algorithm; a one-line summary."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "stand-in-model.json").write_text(
        json.dumps(
            {"image": image, "hyperparameters": dict(hyperparameters), "channels": dict(channels)},
            indent=2,
        )
    )
    return f"placeholder model for {repository(image)}"


def training_stand_in(image: str, hyperparameters: Mapping[str, Any], entrypoint: Any) -> bool:
    """A training image that runs no user code: a built-in algorithm without a program."""
    if entrypoint or "sagemaker_program" in hyperparameters:
        return False
    return any(repository(image).endswith(name) for name in BUILT_IN_ALGORITHMS)
