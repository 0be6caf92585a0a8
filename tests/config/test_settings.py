"""Settings: the shipped files load; every kind of bad input names file, key, value, rule."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, load_manifest, load_settings
from constructs_lib.errors import ConfigurationError


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_shipped_settings_load():
    settings = load_settings()
    assert set(settings.environments) == {"staging", "prod"}
    assert settings.build.registry.model_package_group_name == "tabular-classifier"
    assert settings.environments["prod"].removal_policy == "retain"
    assert set(settings.promotion.environments) == {"staging", "prod"}


def test_environment_subset(config_dir):
    settings = load_settings(config_dir, ["staging"])
    assert list(settings.environments) == ["staging"]
    assert list(settings.promotion.environments) == ["staging"]


def test_unknown_environment_lists_known_ones(config_dir):
    with pytest.raises(
        ConfigurationError, match=r"unknown environment\(s\) \['qa'\].*\['prod', 'staging'\]"
    ):
        load_settings(config_dir, ["qa"])


def test_missing_settings_file(config_dir):
    (config_dir / "build.yaml").unlink()
    with pytest.raises(ConfigurationError, match=r"build.yaml: settings file not found"):
        load_settings(config_dir)


def test_malformed_yaml(config_dir):
    (config_dir / "staging.yaml").write_text("account: [unclosed\n")
    with pytest.raises(ConfigurationError, match=r"staging.yaml: not valid YAML"):
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
    edit(config_dir / "build.yaml", "model_quality_threshold: 0.9", "model_quality_threshold: 1.5")
    with pytest.raises(
        ConfigurationError, match=r"build.yaml: pipeline.model_quality_threshold: got 1.5"
    ):
        load_settings(config_dir)


def test_missing_required_key(config_dir):
    edit(config_dir / "staging.yaml", 'account: "222222222222"\n', "")
    with pytest.raises(
        ConfigurationError, match=r"staging.yaml: account: required setting is missing"
    ):
        load_settings(config_dir)


@pytest.mark.parametrize("version", ["0", "-3", "'7'", "1.5"])
def test_pin_must_be_a_positive_integer(config_dir, version):
    path = config_dir / "promotion.yaml"
    text = re.sub(r"(?m)^    version: .*$", f"    version: {version}", path.read_text(), count=1)
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=r"promotion.yaml: environments.staging.version"):
        load_manifest(path)


def test_pin_to_unknown_group(config_dir):
    edit(
        config_dir / "promotion.yaml",
        "model_package_group: tabular-classifier",
        "model_package_group: other",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"model_package_group: got 'other'; the registry defines only 'tabular-classifier'",
    ):
        load_settings(config_dir)


def test_pin_for_environment_without_settings(config_dir):
    path = config_dir / "promotion.yaml"
    path.write_text(
        path.read_text() + "  qa:\n    model_package_group: tabular-classifier\n    version: 1\n"
    )
    with pytest.raises(
        ConfigurationError, match=r"environments.qa: no settings file config/qa.yaml"
    ):
        load_settings(config_dir)


def test_promotion_target_must_be_pinned(config_dir):
    edit(config_dir / "build.yaml", "promotion_target: staging", "promotion_target: stagin")
    with pytest.raises(
        ConfigurationError,
        match=r"build.yaml: promotion_target: got 'stagin'; the environments pinned in promotion.yaml are \['prod', 'staging'\]",
    ):
        load_settings(config_dir)


@pytest.mark.parametrize("branch", ["main..dev", "feature/", "has space"])
def test_bad_base_branch_fails_synth_not_the_lambda(config_dir, branch):
    edit(config_dir / "build.yaml", "base_branch: main", f"base_branch: '{branch}'")
    with pytest.raises(ConfigurationError, match="build.yaml: github.base_branch: got"):
        load_settings(config_dir)


def test_approval_thresholds_carry_their_direction():
    approval = load_settings().build.approval
    thresholds = approval.metric_thresholds()
    assert [(t.metric, t.minimum, t.direction) for t in thresholds] == [
        ("accuracy", 0.9, "higher"),
        ("auc", 0.95, "higher"),
    ]
    assert approval.report_metrics == ["accuracy", "precision", "recall", "f1", "auc"]


def test_approval_maximum_and_problem_type(config_dir):
    edit(
        config_dir / "build.yaml",
        "  report_metrics: [accuracy, precision, recall, f1, auc]\n"
        "  thresholds:                 # {minimum: x}: higher is better; {maximum: x}: lower"
        " is better\n    accuracy: {minimum: 0.9}\n    auc: {minimum: 0.95}\n"
        "  primary_metric: auc",
        "  problem_type: regression\n  thresholds:\n    rmse: {maximum: 3.5}\n"
        "  primary_metric: rmse",
    )
    approval = load_settings(config_dir).build.approval
    (rmse,) = approval.metric_thresholds()
    assert (rmse.metric, rmse.maximum, rmse.direction) == ("rmse", 3.5, "lower")
    assert approval.problem_type == "regression"


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (
            "accuracy: 0.9",
            r"build.yaml: approval.thresholds.accuracy: got 0.9; .*a bare number is ambiguous;"
            r" write \{minimum: 0.9\} \(higher is better\) or \{maximum: 0.9\}",
        ),
        (
            "accuracy: {maximum: 0.9}",
            r"build.yaml: approval.thresholds: got .*accuracy: MetricThreshold maximum: got a"
            r" maximum for accuracy; allowed a minimum",
        ),
        (
            "accuracy: {minimum: 0.9, maximum: 1}",
            r"build.yaml: approval.thresholds: got .*MetricThreshold minimum/maximum: got both",
        ),
        ("accuracy: {least: 0.9}", r"build.yaml: approval.thresholds.accuracy.least: unknown"),
    ],
)
def test_bad_approval_threshold_names_file_key_value(config_dir, new, message):
    edit(config_dir / "build.yaml", "accuracy: {minimum: 0.9}", new)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(config_dir)


def test_bad_problem_type_lists_allowed_values(config_dir):
    edit(
        config_dir / "build.yaml",
        "  primary_metric: auc",
        "  primary_metric: auc\n  problem_type: ranking",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"build.yaml: approval.problem_type: got 'ranking'; .*'binary_classification'",
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


def test_serverless_environment_loads_without_capture_or_monitoring(config_dir):
    path = config_dir / "staging.yaml"
    text = path.read_text()
    text = text.replace(
        "  variant:\n    instance_type: ml.m5.large\n    initial_instance_count: 1\n",
        "  variant:\n    memory_size_in_mb: 2048\n    provisioned_concurrency: 1\n"
        "  network_isolation: false\n",
    )
    text = text.replace("  data_capture:\n    sampling_percentage: 100\n", "  data_capture: null\n")
    text = text.replace(
        "monitoring:\n  schedule_expression: cron(0 0 ? * * *)   # daily\n"
        "  drift_features: [mean_radius, mean_texture, worst_area]\n",
        "monitoring: null\n",
    )
    path.write_text(text)
    staging = load_settings(config_dir, ["staging"]).environments["staging"]
    assert staging.endpoint.variant.provisioned_concurrency == 1  # type: ignore[union-attr]
    assert staging.endpoint.data_capture is None
    assert staging.monitoring is None


def test_alarm_kind_thresholds_default_to_none():
    from config.settings import AlarmSettings

    alarms = AlarmSettings()
    assert (alarms.cpu_utilization_percent, alarms.concurrency_utilization_percent) == (None, None)
