"""Generate a reference-app configuration with many models (for the scale test and bench).

Each generated model is files only: `models/<name>.yaml` using the classifier's pipeline
package with every feature on (real-time canary with autoscaling, capture, data- and
model-quality monitoring in prod, whose alarms start retraining; alternately serverless
or instance-backed in staging; scheduled retraining; automatic approval), and its pins
in `promotion.yaml`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from config.settings import CONFIG_DIR

STAGING_SERVERLESS = {
    "endpoint": {
        "variant": {"memory_size_in_mb": 2048, "max_concurrency": 10},
        "network_isolation": False,
        "data_capture": None,
    },
    "monitoring": None,
}
STAGING_INSTANCE = {
    "endpoint": {
        "variant": {"instance_type": "ml.m5.large", "initial_instance_count": 1},
        "data_capture": {"sampling_percentage": 100},
    },
    "monitoring": {"schedule_expression": "cron(0 0 ? * * *)", "drift_features": ["mean radius"]},
}
PROD = {
    "endpoint": {
        "variant": {"instance_type": "ml.m5.large", "initial_instance_count": 2},
        "deployment": {"type": "CANARY", "step_percent": 25, "wait_interval": 600},
        "autoscaling": {
            "min_capacity": 2,
            "max_capacity": 6,
            "target_invocations_per_instance": 300,
        },
        "data_capture": {"sampling_percentage": 20},
    },
    "alarms": {"model_latency_p99_ms": 300},
    "monitoring": {
        "schedule_expression": "cron(0 * ? * * *)",
        "drift_features": ["mean radius", "mean texture", "worst area"],
        "model_quality": {
            "problem_type": "binary_classification",
            "inference_attribute": "predictions[0].label",
            "probability_attribute": "predictions[0].probability",
            "start_time_offset": "-P2D",
            "end_time_offset": "-P1D",
            "schedule_expression": "cron(0 6 ? * * *)",
            "thresholds": {"auc": {"minimum": 0.9}},
        },
    },
}


def model_name(index: int) -> str:
    return f"generated-model-{index:02d}"


def generate(target: Path, count: int, *, keep_reference_models: bool = False) -> list[str]:
    """Write a config folder at `target` with `count` generated models; their names."""
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    models_dir = target / "models"
    reference = yaml.safe_load((models_dir / "tabular-classifier.yaml").read_text())
    pins = (
        {}
        if not keep_reference_models
        else yaml.safe_load((target / "promotion.yaml").read_text())["models"]
    )
    if not keep_reference_models:
        for path in models_dir.glob("*.yaml"):
            path.unlink()
    names = []
    for index in range(1, count + 1):
        name = model_name(index)
        settings = {
            "pipeline": reference["pipeline"],
            "approval": {**reference["approval"], "policy": "auto"},
            "retraining": reference["retraining"],
            "environments": {
                "staging": STAGING_SERVERLESS if index % 2 else STAGING_INSTANCE,
                "prod": PROD,
            },
        }
        (models_dir / f"{name}.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        pins[name] = {"staging": index, "prod": index}
        names.append(name)
    (target / "promotion.yaml").write_text(yaml.safe_dump({"models": pins}, sort_keys=False))
    return names
