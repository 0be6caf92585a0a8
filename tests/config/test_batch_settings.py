"""Batch settings (`environments.<env>.batch`): defaults, a batch-only model, and every
kind of bad input naming file, key, value and rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, load_settings
from constructs_lib.errors import ConfigurationError

REGRESSOR = "diabetes-regressor"
REGRESSOR_FILE = f"models/{REGRESSOR}.yaml"
PROD_ENTRY = "  prod:\n    endpoint:\n"


def regressor_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def make_batch_only(path: Path) -> None:
    """Rewrite the regressor's file so prod has only its `batch:` entry (and no
    retraining on prod's endpoint alarms, which would then not exist)."""
    text = path.read_text()
    prod = text.index(PROD_ENTRY)
    batch = text.index("    batch:", prod)
    monitoring = text.index("\n    monitoring:", batch) + 1
    text = text[: prod + len("  prod:\n")] + text[batch:monitoring]
    retrain = text.index("  on_alarms:")
    path.write_text(text[:retrain] + text[text.index("environments:\n", retrain) :])


def test_defaults_fill_the_prefixes_from_the_models_name():
    ((model, batch, version),) = load_settings().batched("prod")
    assert (model.name, version) == (REGRESSOR, 1)
    assert batch.input_prefix == f"batch/{REGRESSOR}/input/"
    assert batch.output_prefix == f"batch/{REGRESSOR}/output/"
    assert batch.enabled is True
    assert batch.monitoring is not None and batch.monitoring.drift_features == ["bmi", "bp", "s5"]


def test_a_batch_only_model_is_not_served_by_an_endpoint(tmp_path):
    """`batch` without `endpoint`: `served()` (deploy stacks, smoke test) skips it."""
    config = regressor_config(tmp_path)
    make_batch_only(config / REGRESSOR_FILE)
    settings = load_settings(config)
    assert REGRESSOR not in [m.name for m, _, _ in settings.served("prod")]
    assert [m.name for m, _, _ in settings.batched("prod")] == [REGRESSOR]
    serving = settings.models[REGRESSOR].serving("prod")
    assert serving is not None and serving.endpoint is None


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "      content_type: text/csv\n",
            "      content_type: text/csv\n      input_prefix: batch/in\n",
            r"environments.prod.batch.input_prefix: got 'batch/in'; allowed a folder prefix",
        ),
        (
            "      instance_count: 1\n",
            "      instance_count: 0\n",
            r"environments.prod.batch.instance_count: got 0; Input should be greater than",
        ),
        (
            "      split_type: Line\n",
            "      split_type: Lines\n",
            r"environments.prod.batch.split_type: got 'Lines'; Input should be 'None'",
        ),
        (
            "        drift_threshold: 0.2\n",
            "        drift_threshold: 0.2\n        drift_features: [bmi]\n        features: []\n",
            r"environments.prod.batch.monitoring.features: unknown setting",
        ),
    ],
)
def test_bad_batch_settings_name_file_key_and_value(tmp_path, old, new, match):
    config = regressor_config(tmp_path)
    edit(config / REGRESSOR_FILE, old, new)
    with pytest.raises(ConfigurationError, match=match):
        load_settings(config)


def test_neither_endpoint_nor_batch_is_refused(tmp_path):
    config = regressor_config(tmp_path)
    path = config / REGRESSOR_FILE
    text = path.read_text()
    prod = text.index(PROD_ENTRY)
    path.write_text(text[:prod] + "  prod:\n    alarms:\n      model_latency_p99_ms: 300\n")
    with pytest.raises(
        ConfigurationError,
        match=r"diabetes-regressor.yaml: environments.prod: got neither endpoint nor batch;"
        r" allowed an endpoint, a batch or both",
    ):
        load_settings(config)


def test_endpoint_settings_without_an_endpoint_are_refused(tmp_path):
    config = regressor_config(tmp_path)
    path = config / REGRESSOR_FILE
    text = path.read_text()
    prod = text.index(PROD_ENTRY)
    path.write_text(
        text[:prod] + "  prod:\n    alarms:\n      model_latency_p99_ms: 300\n    batch: {}\n"
    )
    with pytest.raises(
        ConfigurationError,
        match=r"environments.prod.alarms: got settings without an endpoint; allowed only"
        r" beside endpoint",
    ):
        load_settings(config)


def test_a_model_named_like_another_models_batch_stack_is_refused(tmp_path):
    config = regressor_config(tmp_path)
    clash = config / "models" / f"{REGRESSOR}-batch.yaml"
    clash.write_text((CONFIG_DIR / "models" / "tabular-classifier.yaml").read_text())
    edit(
        config / "promotion.yaml",
        "models:\n",
        f"models:\n  {REGRESSOR}-batch: {{staging: 1, prod: 1}}\n",
    )
    with pytest.raises(
        ConfigurationError,
        match=rf"environments.prod.batch: got stack id mlops-{REGRESSOR}-batch-prod, which"
        rf" model {REGRESSOR}-batch's endpoint stack uses already",
    ):
        load_settings(config)
