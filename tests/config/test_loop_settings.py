"""Settings of model-quality monitoring and retraining on alarms: the shipped files,
the defaults, and one test per error (file, key, value, rule)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, alarm_name, load_settings
from constructs_lib.errors import ConfigurationError

CLASSIFIER, REGRESSOR = "tabular-classifier", "diabetes-regressor"
QUALITY = "environments.prod.monitoring.model_quality"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit(config_dir: Path, model: str, old: str, new: str) -> Path:
    path = config_dir / "models" / f"{model}.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
    return path


def test_prod_watches_quality_and_retrains_on_its_alarms_staging_does_not():
    settings = load_settings()
    for name, problem in ((CLASSIFIER, "binary_classification"), (REGRESSOR, "regression")):
        model = settings.models[name]
        prod = model.serving("prod")
        assert prod is not None and prod.monitoring is not None
        quality = prod.monitoring.model_quality
        assert quality is not None and quality.thresholds
        assert model.model_quality_problem_type(quality) == problem
        assert model.ground_truth_prefix("prod") == f"ground-truth/{name}-prod/"
        on_alarms = model.retraining.on_alarms
        assert on_alarms is not None and on_alarms.environments == ["prod"]
        assert on_alarms.min_interval_hours == 24
        names = model.retraining_alarm_names("prod")
        assert alarm_name(f"{name}-prod", "model-quality", next(iter(quality.thresholds))) in names
        assert any("-drift-" in n for n in names)
        staging = model.serving("staging")
        assert staging is not None
        assert staging.monitoring is None or staging.monitoring.model_quality is None
        assert model.retraining_alarm_names("staging") == []
        assert model.ground_truth_prefix("staging") == ""
    assert settings.environment_accounts == {"staging": "222222222222", "prod": "333333333333"}


def test_alarm_names_are_cut_to_255_characters_distinctly():
    long_a, long_b = alarm_name("e", "drift", "a" * 300), alarm_name("e", "drift", "a" * 301)
    assert len(long_a) == len(long_b) == 255 and long_a != long_b


def test_alarm_parameters_default_to_the_schedules(config_dir):
    model = load_settings(config_dir).models[CLASSIFIER]
    assert model.retraining.on_alarms is not None
    assert model.retraining.on_alarms.parameters is None  # RetrainingTrigger gets retraining's


def test_only_model_quality_alarms_may_retrain(config_dir):
    edit(config_dir, CLASSIFIER, "alarms: [drift, model_quality]", "alarms: [model_quality]")
    names = load_settings(config_dir).models[CLASSIFIER].retraining_alarm_names("prod")
    assert names and all("-model-quality-" in n for n in names)


def test_explicit_ground_truth_prefix(config_dir):
    edit(
        config_dir,
        CLASSIFIER,
        "        probability_threshold: 0.5\n",
        "        probability_threshold: 0.5\n        ground_truth_prefix: labels/clf/\n",
    )
    assert load_settings(config_dir).models[CLASSIFIER].ground_truth_prefix("prod") == "labels/clf/"


@pytest.mark.parametrize(
    ("model", "old", "new", "message"),
    [
        (
            CLASSIFIER,
            "          auc: {minimum: 0.95}\n",
            "          rmse: {maximum: 1.0}\n",
            rf"{QUALITY}.thresholds.rmse: got 'rmse'; allowed a binary_classification metric:"
            r" accuracy, accuracy_best_constant_classifier, au_prc, auc",
        ),
        (
            CLASSIFIER,
            "          auc: {minimum: 0.95}\n",
            "          auc: {maximum: 0.95}\n",
            rf"{QUALITY}.thresholds: got .*auc: MetricThreshold maximum: got a maximum for auc;"
            r" allowed a minimum",
        ),
        (
            CLASSIFIER,
            "        problem_type: binary_classification\n",
            "",
            rf"{QUALITY}.problem_type: required setting is missing; allowed one of"
            r" \['binary_classification'",
        ),
        (
            CLASSIFIER,
            "problem_type: binary_classification",
            "problem_type: ranking",
            rf"{QUALITY}.problem_type: got 'ranking'; Input should be 'binary_classification'",
        ),
        (
            REGRESSOR,
            "        inference_attribute: predictions[0]   # the JSON response's value\n",
            "        inference_attribute: predictions[0]\n        probability_attribute: x\n",
            rf"{QUALITY}.probability_attribute: got 'x'; allowed null with regression"
            r" \(binary_classification only\)",
        ),
        (
            CLASSIFIER,
            "probability_threshold: 0.5",
            "probability_threshold: 1.5",
            rf"{QUALITY}.probability_threshold: got 1.5; Input should be less than or equal to 1",
        ),
        (
            CLASSIFIER,
            "        probability_threshold: 0.5\n",
            "        probability_threshold: 0.5\n        ground_truth_prefix: labels\n",
            rf"{QUALITY}.ground_truth_prefix: got 'labels'; String should match pattern",
        ),
        (
            CLASSIFIER,
            "        start_time_offset: -P2D  # each daily run merges the labels of the day before\n",
            "",
            rf"{QUALITY}.start_time_offset: required setting is missing",
        ),
        (
            CLASSIFIER,
            "    environments: [prod]\n    alarms",
            "    environments: [qa]\n    alarms",
            r"retraining.on_alarms.environments.0: got 'qa', which has no config/qa.yaml;"
            r" allowed one of the environments \['prod', 'staging'\]",
        ),
        (
            CLASSIFIER,
            "    environments: [prod]\n    alarms",
            "    environments: []\n    alarms",
            r"retraining.on_alarms.environments: got \[\]; List should have at least 1 item",
        ),
        (
            REGRESSOR,
            "    environments: [prod]\n",
            "    environments: [staging]\n",
            r"retraining.on_alarms.environments.0: got 'staging', where the model has no"
            r" \['drift', 'model_quality'\] alarms; allowed an environment with"
            r" monitoring.drift_features",
        ),
        (
            CLASSIFIER,
            "alarms: [drift, model_quality]",
            "alarms: [latency]",
            r"retraining.on_alarms.alarms.0: got 'latency'; Input should be 'drift' or"
            r" 'model_quality'",
        ),
        (
            CLASSIFIER,
            "min_interval_hours: 24 ",
            "min_interval_hours: -1 ",
            r"retraining.on_alarms.min_interval_hours: got -1; Input should be greater than or"
            r" equal to 0",
        ),
    ],
)
def test_bad_loop_settings_name_file_key_value_and_rule(config_dir, model, old, new, message):
    path = edit(config_dir, model, old, new)
    with pytest.raises(ConfigurationError, match=f"^{path}: {message}"):
        load_settings(config_dir)


def test_retraining_on_an_environment_the_model_is_not_served_in_watches_nothing(config_dir):
    path = config_dir / "models" / f"{CLASSIFIER}.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("  prod:\n    endpoint:")] + "  prod: null\n")
    model = load_settings(config_dir).models[CLASSIFIER]
    assert model.retraining.on_alarms is not None
    assert model.retraining_alarm_names("prod") == []  # the build stack adds no trigger


def test_drift_features_must_be_columns_of_the_baseline_dataset():
    """A drift alarm on a feature the baseline does not name watches a metric that never
    exists (`feature_baseline_drift_<header name>`): synth refuses it."""
    import pipelines.tabular_classifier as package
    from stacks.model_build import _check_drift_features

    model = load_settings(CONFIG_DIR).models["tabular-classifier"]
    _check_drift_features(package, model, "models/tabular-classifier.yaml")  # shipped: fine
    prod = model.environments["prod"]
    assert prod is not None and prod.monitoring is not None
    monitoring = prod.monitoring.model_copy(update={"drift_features": ["mean_radius"]})
    broken = model.model_copy(
        update={
            "environments": {
                **model.environments,
                "prod": prod.model_copy(update={"monitoring": monitoring}),
            }
        }
    )
    with pytest.raises(
        ConfigurationError,
        match=r"^models/tabular-classifier.yaml: environments.prod.monitoring.drift_features:"
        r" got 'mean_radius'; allowed the features of the baseline dataset's header"
        r" \(mean radius, mean texture, ",
    ):
        _check_drift_features(package, broken, "models/tabular-classifier.yaml")
