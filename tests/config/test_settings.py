"""Settings: the shipped files load; every kind of bad input names file, key, value, rule."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, load_manifest, load_settings
from constructs_lib.errors import ConfigurationError

CLASSIFIER, REGRESSOR = "tabular-classifier", "diabetes-regressor"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def model_file(config_dir: Path, model: str = CLASSIFIER) -> Path:
    return config_dir / "models" / f"{model}.yaml"


def test_shipped_settings_load():
    settings = load_settings()
    assert set(settings.environments) == {"staging", "prod"}
    assert set(settings.models) == {CLASSIFIER, REGRESSOR}
    for name, model in settings.models.items():
        assert model.name == name
        assert model.group == name  # the registry group defaults to the model's name
        assert model.pipeline_name == name
        assert model.registry.model_package_group_name == name
        for env in ("staging", "prod"):
            serving = model.serving(env)
            assert serving is not None
            assert serving.endpoint.name == f"{name}-{env}"
    assert settings.models[CLASSIFIER].pipeline.package == "tabular_classifier"
    assert settings.models[REGRESSOR].pipeline.package == "diabetes_regressor"
    assert settings.environments["prod"].removal_policy == "retain"
    assert settings.promotion.version(CLASSIFIER, "staging") == 2
    assert settings.promotion.version(CLASSIFIER, "prod") == 1
    assert [(m.name, v) for m, _, v in settings.served("prod")] == [
        (REGRESSOR, settings.promotion.version(REGRESSOR, "prod")),
        (CLASSIFIER, 1),
    ]


def test_environment_subset(config_dir):
    settings = load_settings(config_dir, ["staging"])
    assert list(settings.environments) == ["staging"]
    assert all(set(pins) <= {"staging"} for pins in settings.promotion.models.values())
    assert [m.name for m, _, _ in settings.served("prod")] == []


def test_model_subset(config_dir):
    settings = load_settings(config_dir, models=[REGRESSOR])
    assert list(settings.models) == [REGRESSOR]
    assert list(settings.promotion.models) == [REGRESSOR]
    assert [m.name for m, _, _ in settings.served("staging")] == [REGRESSOR]


def test_unknown_environment_lists_known_ones(config_dir):
    with pytest.raises(
        ConfigurationError, match=r"unknown environment\(s\) \['qa'\].*\['prod', 'staging'\]"
    ):
        load_settings(config_dir, ["qa"])


def test_unknown_model_lists_known_ones(config_dir):
    with pytest.raises(
        ConfigurationError,
        match=r"unknown model\(s\) \['churn'\]: no config/models/<name>.yaml for them; known"
        r" models: \['diabetes-regressor', 'tabular-classifier'\]",
    ):
        load_settings(config_dir, models=["churn"])


def test_missing_settings_file(config_dir):
    (config_dir / "build.yaml").unlink()
    with pytest.raises(ConfigurationError, match=r"build.yaml: settings file not found"):
        load_settings(config_dir)


def test_malformed_yaml(config_dir):
    (config_dir / "staging.yaml").write_text("account: [unclosed\n")
    with pytest.raises(ConfigurationError, match=r"staging.yaml: not valid YAML"):
        load_settings(config_dir)


def test_malformed_model_file(config_dir):
    model_file(config_dir).write_text("pipeline: [unclosed\n")
    with pytest.raises(
        ConfigurationError, match=r"models/tabular-classifier.yaml: not valid YAML at line 2"
    ):
        load_settings(config_dir)


def test_top_level_must_be_a_mapping(config_dir):
    (config_dir / "staging.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigurationError, match=r"staging.yaml: expected a mapping .* got list"):
        load_settings(config_dir)


def test_unknown_key_is_named_with_its_value(config_dir):
    (config_dir / "prod.yaml").write_text(
        (config_dir / "prod.yaml").read_text() + "instance_typo: ml.m5.large\n"
    )
    with pytest.raises(
        ConfigurationError,
        match=r"prod.yaml: instance_typo: unknown setting \(value 'ml.m5.large'\)",
    ):
        load_settings(config_dir)


def test_unknown_key_in_a_model_file(config_dir):
    edit(model_file(config_dir), "retraining:", "retrain: true\nretraining:")
    with pytest.raises(
        ConfigurationError,
        match=r"^\S*/models/tabular-classifier.yaml: retrain: unknown setting \(value True\)$",
    ):
        load_settings(config_dir)


def test_unknown_nested_key_in_a_model_file(config_dir):
    edit(model_file(config_dir), "scale_in_cooldown: 600", "scale_in_cool_down: 600")
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: environments.prod.endpoint.autoscaling"
        r".scale_in_cool_down: unknown setting \(value 600\)",
    ):
        load_settings(config_dir)


def test_unknown_environment_under_environments(config_dir):
    edit(model_file(config_dir), "  prod:\n    endpoint:", "  qa:\n    endpoint:")
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: environments.qa: no config/qa.yaml; allowed one"
        r" of the environments \['prod', 'staging'\]",
    ):
        load_settings(config_dir)


def test_a_model_file_may_not_name_its_model(config_dir):
    path = model_file(config_dir)
    path.write_text("name: churn\n" + path.read_text())
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: name: got 'churn'; a model is named by its file"
        r" \('tabular-classifier'\)",
    ):
        load_settings(config_dir)


@pytest.mark.parametrize("stem", ["a" * 41, "Churn_2", "churn--2", "2churn"])
def test_model_name_is_checked_where_it_comes_from(config_dir, stem):
    """The file's name is the model's name: too long or badly spelled, the error names
    the file, the name and the rule in words."""
    shutil.copy(model_file(config_dir), config_dir / "models" / f"{stem}.yaml")
    with pytest.raises(
        ConfigurationError,
        match=rf"models/{stem}.yaml: the file name '{stem}' is the model's name; allowed 1-40"
        " lowercase letters, digits and single hyphens, starting with a letter",
    ):
        load_settings(config_dir)


def test_forty_character_model_name_loads(config_dir):
    name = "m" + "-abc" * 9 + "xyz"
    assert len(name) == 40
    path = model_file(config_dir)
    shutil.copy(path, config_dir / "models" / f"{name}.yaml")
    # Its endpoint and group names must differ from the classifier's.
    text = (config_dir / "models" / f"{name}.yaml").read_text()
    text = text.replace("registry:\n", f"registry:\n  model_package_group_name: {name}\n")
    (config_dir / "models" / f"{name}.yaml").write_text(text)
    edit(
        config_dir / "promotion.yaml",
        "models:\n",
        f"models:\n  {name}: {{staging: null, prod: null}}\n",
    )
    settings = load_settings(config_dir, models=[name])
    assert settings.models[name].serving("staging").endpoint.name == f"{name}-staging"  # type: ignore[union-attr]


def test_bad_variant_names_file_and_key(config_dir):
    edit(model_file(config_dir, REGRESSOR), "memory_size_in_mb: 2048", "memory_size_mb: 2048")
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_dir)
    message = str(info.value)
    assert "models/diabetes-regressor.yaml: environments.staging.endpoint.variant: got" in message
    assert "'memory_size_mb': 2048" in message


def test_bad_variant_is_one_line_naming_both_kinds(config_dir):
    edit(model_file(config_dir, REGRESSOR), "memory_size_in_mb: 2048", "memory_size_mb: 2048")
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_dir)
    message = str(info.value)
    assert "\n" not in message
    assert "VariantSettings" not in message
    assert "instance_type" in message
    assert "memory_size_in_mb" in message


def test_variant_with_both_kinds_of_capacity_is_refused(config_dir):
    edit(
        model_file(config_dir),
        "initial_instance_count: 1\n",
        "initial_instance_count: 1\n        memory_size_in_mb: 2048\n",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: environments.staging.endpoint.variant\S*"
        r"memory_size_in_mb: unknown setting \(value 2048\)",
    ):
        load_settings(config_dir)


def test_null_serving_means_not_served_there(config_dir):
    path = model_file(config_dir)
    text = path.read_text()
    path.write_text(text[: text.index("  prod:\n    endpoint:")] + "  prod: null\n")
    settings = load_settings(config_dir)
    assert settings.models[CLASSIFIER].serving("prod") is None
    assert settings.promotion.version(CLASSIFIER, "prod") == 1  # pinned, yet not served
    assert [m.name for m, _, _ in settings.served("prod")] == [REGRESSOR]
    assert CLASSIFIER in [m.name for m, _, _ in settings.served("staging")]


def test_model_without_pins_is_served_nowhere(config_dir):
    edit(
        config_dir / "promotion.yaml",
        "  tabular-classifier:\n    staging: 2\n    prod: 1\n",
        "  tabular-classifier:\n    staging: null\n    prod: null\n",
    )
    settings = load_settings(config_dir)
    assert settings.promotion.version(CLASSIFIER, "staging") is None
    assert CLASSIFIER in settings.models  # still built
    for env in ("staging", "prod"):
        assert [m.name for m, _, _ in settings.served(env)] == [REGRESSOR]


def test_bad_account_names_file_key_value_and_rule(config_dir):
    edit(config_dir / "staging.yaml", '"222222222222"', '"2222"')
    with pytest.raises(
        ConfigurationError, match=r"staging.yaml: account: got '2222'; String should match pattern"
    ):
        load_settings(config_dir)


def test_bad_removal_policy_lists_allowed_values(config_dir):
    edit(config_dir / "prod.yaml", "removal_policy: retain", "removal_policy: keep")
    with pytest.raises(
        ConfigurationError,
        match=r"prod.yaml: removal_policy: got 'keep'; Input should be 'retain' or 'destroy'",
    ):
        load_settings(config_dir)


def test_nested_key_is_spelled_in_full(config_dir):
    edit(model_file(config_dir), "type: CANARY", "type: BLUE")
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: environments.prod.endpoint.deployment.type: got"
        r" 'BLUE'; Input should be 'ALL_AT_ONCE', 'CANARY' or 'LINEAR'",
    ):
        load_settings(config_dir)


def test_missing_required_key(config_dir):
    edit(config_dir / "staging.yaml", 'account: "222222222222"\n', "")
    with pytest.raises(
        ConfigurationError, match=r"staging.yaml: account: required setting is missing"
    ):
        load_settings(config_dir)


def test_model_file_without_a_pipeline(config_dir):
    edit(model_file(config_dir), "pipeline:\n  package: tabular_classifier\n", "pipelin:\n")
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: pipeline: required setting is missing",
    ):
        load_settings(config_dir)


@pytest.mark.parametrize("version", ["0", "-3", "'7'", "1.5"])
def test_pin_must_be_a_positive_integer(config_dir, version):
    path = config_dir / "promotion.yaml"
    edit(path, "    staging: 2", f"    staging: {version}")
    with pytest.raises(
        ConfigurationError, match=r"promotion.yaml: models.tabular-classifier.staging: got"
    ):
        load_manifest(path)


def test_pin_for_an_unknown_model(config_dir):
    edit(config_dir / "promotion.yaml", "  diabetes-regressor:", "  diabetes-regresor:")
    with pytest.raises(
        ConfigurationError,
        match=r"promotion.yaml: models.diabetes-regresor: no config/models/diabetes-regresor"
        r".yaml; allowed one of the models \['diabetes-regressor', 'tabular-classifier'\]",
    ):
        load_settings(config_dir)


def test_pin_for_an_unknown_model_fails_even_when_models_are_limited(config_dir):
    edit(config_dir / "promotion.yaml", "  diabetes-regressor:", "  diabetes-regresor:")
    with pytest.raises(ConfigurationError, match=r"models.diabetes-regresor: no config/models"):
        load_settings(config_dir, models=[CLASSIFIER])


def test_pin_for_environment_without_settings(config_dir):
    edit(config_dir / "promotion.yaml", "    prod: 1\n  diabetes", "    qa: 1\n  diabetes")
    with pytest.raises(
        ConfigurationError,
        match=r"promotion.yaml: models.tabular-classifier.qa: no config/qa.yaml; allowed one of"
        r" the environments \['prod', 'staging'\]",
    ):
        load_settings(config_dir)


def test_manifest_model_key_must_be_a_model_name(config_dir):
    edit(config_dir / "promotion.yaml", "  diabetes-regressor:", "  Diabetes_Regressor:")
    with pytest.raises(
        ConfigurationError, match=r"promotion.yaml: models.Diabetes_Regressor.\[key\]: got"
    ):
        load_settings(config_dir)


def test_duplicate_endpoint_name_across_model_files(config_dir):
    edit(
        model_file(config_dir, REGRESSOR),
        "  staging:\n    endpoint:                  # serverless: no capture, no isolation,"
        " no monitor there\n",
        "  staging:\n    endpoint:\n      name: tabular-classifier-staging\n",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: environments.staging.endpoint.name: got"
        r" 'tabular-classifier-staging', which \S*models/diabetes-regressor.yaml"
        r" \(environments.staging.endpoint.name\) uses already; allowed a name no other model"
        r" uses",
    ):
        load_settings(config_dir)


def test_same_endpoint_name_in_different_environments_is_allowed(config_dir):
    """Endpoint names are unique per account and region: each environment has its own."""
    edit(model_file(config_dir, REGRESSOR), "  prod:\n    endpoint:\n", "  prod:\n    endpoint:\n"
         "      name: tabular-classifier-staging\n")  # fmt: skip
    settings = load_settings(config_dir)
    assert settings.models[REGRESSOR].serving("prod").endpoint.name == (  # type: ignore[union-attr]
        "tabular-classifier-staging"
    )


def test_duplicate_registry_group_across_model_files(config_dir):
    edit(
        model_file(config_dir, REGRESSOR),
        "registry:\n",
        "registry:\n  model_package_group_name: tabular-classifier\n",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: registry.model_package_group_name: got"
        r" 'tabular-classifier', which \S*models/diabetes-regressor.yaml"
        r" \(registry.model_package_group_name\) uses already",
    ):
        load_settings(config_dir)


def test_duplicate_pipeline_name_across_model_files(config_dir):
    edit(
        model_file(config_dir, REGRESSOR),
        "  package: diabetes_regressor\n",
        "  package: diabetes_regressor\n  name: tabular-classifier\n",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"pipeline.name: got 'tabular-classifier', which \S*diabetes-regressor.yaml",
    ):
        load_settings(config_dir)


def test_promotion_target_must_be_an_environment(config_dir):
    edit(config_dir / "build.yaml", "promotion_target: staging", "promotion_target: stagin")
    with pytest.raises(
        ConfigurationError,
        match=r"build.yaml: promotion_target: got 'stagin'; allowed one of the environments"
        r" \['prod', 'staging'\]",
    ):
        load_settings(config_dir)


@pytest.mark.parametrize("branch", ["main..dev", "feature/", "has space"])
def test_bad_base_branch_fails_synth_not_the_lambda(config_dir, branch):
    edit(config_dir / "build.yaml", "base_branch: main", f"base_branch: '{branch}'")
    with pytest.raises(ConfigurationError, match="build.yaml: github.base_branch: got"):
        load_settings(config_dir)


def test_approval_thresholds_carry_their_direction():
    settings = load_settings()
    classifier = settings.models[CLASSIFIER].approval
    assert [(t.metric, t.minimum, t.direction) for t in classifier.metric_thresholds()] == [
        ("accuracy", 0.9, "higher"),
        ("auc", 0.95, "higher"),
    ]
    assert classifier.report_metrics == ["accuracy", "precision", "recall", "f1", "auc"]


def test_regressor_approval_is_lower_is_better():
    approval = load_settings().models[REGRESSOR].approval
    assert [(t.metric, t.maximum, t.direction) for t in approval.metric_thresholds()] == [
        ("rmse", 65.0, "lower"),
        ("mae", 55.0, "lower"),
    ]
    assert approval.problem_type == "regression"
    assert approval.primary_metric == "rmse"


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (
            "accuracy: 0.9",
            r"tabular-classifier.yaml: approval.thresholds.accuracy: got 0.9; .*a bare number is"
            r" ambiguous; write \{minimum: 0.9\} \(higher is better\) or \{maximum: 0.9\}",
        ),
        (
            "accuracy: {maximum: 0.9}",
            r"tabular-classifier.yaml: approval.thresholds: got .*accuracy: MetricThreshold"
            r" maximum: got a maximum for accuracy; allowed a minimum",
        ),
        (
            "accuracy: {minimum: 0.9, maximum: 1}",
            r"tabular-classifier.yaml: approval.thresholds: got .*MetricThreshold"
            r" minimum/maximum: got both",
        ),
        (
            "accuracy: {least: 0.9}",
            r"tabular-classifier.yaml: approval.thresholds.accuracy.least: unknown",
        ),
    ],
)
def test_bad_approval_threshold_names_file_key_value(config_dir, new, message):
    edit(model_file(config_dir), "accuracy: {minimum: 0.9}", new)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(config_dir)


def test_minimum_for_a_lower_is_better_metric_is_refused(config_dir):
    edit(model_file(config_dir, REGRESSOR), "rmse: {maximum: 65.0}", "rmse: {minimum: 65.0}")
    with pytest.raises(
        ConfigurationError,
        match=r"diabetes-regressor.yaml: approval.thresholds: got .*rmse: MetricThreshold"
        r" minimum: got a minimum for rmse; allowed a maximum",
    ):
        load_settings(config_dir)


def test_bad_problem_type_lists_allowed_values(config_dir):
    edit(
        model_file(config_dir),
        "  primary_metric: auc",
        "  primary_metric: auc\n  problem_type: ranking",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"tabular-classifier.yaml: approval.problem_type: got 'ranking'; .*"
        r"'binary_classification'",
    ):
        load_settings(config_dir)


def test_yaml_error_is_one_line_with_position(config_dir):
    (config_dir / "staging.yaml").write_text("account: '1'\nregion: [eu-west-1\n")
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_dir)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(r"staging.yaml: not valid YAML at line \d+ column \d+: ", message)


def test_alarm_settings_mirror_the_construct_props():
    import dataclasses

    from config.settings import AlarmSettings
    from constructs_lib.endpoint_alarms import AlarmThresholds

    assert AlarmSettings().model_dump() == dataclasses.asdict(AlarmThresholds())


def test_serverless_serving_loads_without_capture_or_monitoring():
    staging = load_settings().models[REGRESSOR].serving("staging")
    assert staging is not None
    variant = staging.endpoint.variant
    assert (variant.memory_size_in_mb, variant.max_concurrency) == (2048, 5)  # type: ignore[union-attr]
    assert staging.endpoint.network_isolation is False
    assert staging.endpoint.data_capture is None
    assert staging.monitoring is None


def test_alarm_kind_thresholds_default_to_none():
    from config.settings import AlarmSettings

    alarms = AlarmSettings()
    assert (alarms.cpu_utilization_percent, alarms.concurrency_utilization_percent) == (None, None)


def test_every_model_needs_a_pin_line_for_every_environment(config_dir):
    """The approval function edits that line: it must exist before the first approval."""
    edit(config_dir / "promotion.yaml", "    staging: 1\n    prod: 1\n", "    staging: 1\n")
    with pytest.raises(
        ConfigurationError,
        match=r"promotion.yaml: models.diabetes-regressor: no pin for \['prod'\]; allowed a"
        r" version or null for every environment \(add `diabetes-regressor: \{prod: null\}`",
    ):
        load_settings(config_dir)


def test_a_model_file_without_manifest_lines_is_refused(config_dir):
    shutil.copy(model_file(config_dir), config_dir / "models" / "churn.yaml")
    edit(
        config_dir / "models" / "churn.yaml", "approval:", "registry:\n  description: x\napproval:"
    )
    with pytest.raises(ConfigurationError, match=r"models.churn: no pin for \['prod', 'staging'\]"):
        load_settings(config_dir)


@pytest.mark.parametrize("name", ["eu-prod", "x", "Prod2"])
def test_environment_file_names_cannot_make_stack_ids_ambiguous(config_dir, name):
    shutil.copy(config_dir / "staging.yaml", config_dir / f"{name}.yaml")
    with pytest.raises(
        ConfigurationError, match=rf"{name}.yaml: the file name '{name}' is the environment's name"
    ):
        load_settings(config_dir)


def test_build_side_reads_every_deploy_account_whatever_the_subset(config_dir):
    """Limiting a synth to staging must not drop prod's read access from the build side."""
    assert load_settings(config_dir, ["staging"]).reader_accounts == [
        "222222222222",
        "333333333333",
    ]


def test_endpoint_names_are_unique_case_insensitively(config_dir):
    edit(
        model_file(config_dir, REGRESSOR),
        "    endpoint:                  # serverless",
        "    endpoint:\n      name: Tabular-Classifier-Staging   # serverless",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"endpoint.name: got 'tabular-classifier-staging', which .* uses already",
    ):
        load_settings(config_dir)
