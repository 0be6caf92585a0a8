"""Settings from environment variables: defaults, and one clear error per bad value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from approval_support import LambdaContextStub

from lambdas.approval import handler
from lambdas.approval.config import Threshold, load_config
from lambdas.approval.errors import ConfigError

VALID = {
    "MODEL_PACKAGE_GROUP_NAME": "tabular-classifier",
    "APPROVAL_POLICY": "auto",
    "QUALITY_THRESHOLDS": '{"accuracy": {"minimum": 0.9}, "auc": {"minimum": 0.85}}',
    "PRIMARY_METRIC": "accuracy",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:model-approval",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/approval-dlq",
}
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-token-AbCdEf"


def test_required_settings_and_defaults() -> None:
    config = load_config(VALID)
    assert config.approval_policy == "auto"
    assert config.quality_thresholds == {"accuracy": Threshold(0.9), "auc": Threshold(0.85)}
    assert config.primary_direction == "higher"
    assert config.github_repository is None and config.github_token_secret_arn is None
    assert config.github_base_branch == "main"
    assert config.github_api_url == "https://api.github.com"
    assert config.promotion_manifest_path == "config/promotion.yaml"
    assert config.promotion_target_environment == "staging"
    assert config.promotion_model == "tabular-classifier" == config.model  # the group


def test_promotion_model_names_the_manifest_key() -> None:
    config = load_config({**VALID, "PROMOTION_MODEL": "churn-v2"})
    assert (config.model, config.model_package_group_name) == ("churn-v2", "tabular-classifier")


def test_optional_settings() -> None:
    config = load_config(
        {
            **VALID,
            "GITHUB_REPOSITORY": "example-org/mlops-models",
            "GITHUB_TOKEN_SECRET_ARN": SECRET,
            "GITHUB_BASE_BRANCH": "release/2026",
            "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "PROMOTION_MANIFEST_PATH": "deploy/pins.yaml",
            "PROMOTION_TARGET_ENVIRONMENT": "qa",
        }
    )
    assert config.github_repository == "example-org/mlops-models"
    assert config.github_api_url == "https://ghe.example.com/api/v3"
    assert (config.github_base_branch, config.promotion_target_environment) == (
        "release/2026",
        "qa",
    )


def test_maximums_and_the_primary_direction() -> None:
    env = {
        **VALID,
        "QUALITY_THRESHOLDS": '{"rmse": {"maximum": 3.5}, "r2": {"minimum": 0.5}}',
        "PRIMARY_METRIC": "rmse",
    }
    config = load_config(env)
    assert config.quality_thresholds == {
        "rmse": Threshold(3.5, "lower"),
        "r2": Threshold(0.5, "higher"),
    }
    assert config.primary_direction == "lower"  # from the primary metric's maximum
    explicit = load_config({**env, "PRIMARY_METRIC": "mae", "PRIMARY_METRIC_DIRECTION": "lower"})
    assert explicit.primary_direction == "lower"
    assert load_config({**env, "PRIMARY_METRIC": "mae"}).primary_direction == "higher"


def test_earlier_format_of_bare_minimums_is_still_read() -> None:
    config = load_config({**VALID, "QUALITY_THRESHOLDS": '{"accuracy": 0.9, "auc": 0.85}'})
    assert config.quality_thresholds == {"accuracy": Threshold(0.9), "auc": Threshold(0.85)}
    assert config.primary_direction == "higher"


def test_empty_repository_means_none_configured() -> None:
    assert load_config({**VALID, "GITHUB_REPOSITORY": " "}).github_repository is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"MODEL_PACKAGE_GROUP_NAME": None}, "MODEL_PACKAGE_GROUP_NAME: required"),
        ({"MODEL_PACKAGE_GROUP_NAME": "bad_name!"}, "MODEL_PACKAGE_GROUP_NAME: got 'bad_name!'"),
        ({"APPROVAL_POLICY": "sometimes"}, "APPROVAL_POLICY: got 'sometimes'; allowed: manual"),
        ({"APPROVAL_POLICY": ""}, "APPROVAL_POLICY: required"),
        ({"QUALITY_THRESHOLDS": "accuracy=0.9"}, "QUALITY_THRESHOLDS: .* not valid JSON"),
        ({"QUALITY_THRESHOLDS": "{}"}, "QUALITY_THRESHOLDS: got '{}'"),
        ({"QUALITY_THRESHOLDS": "[0.9]"}, "QUALITY_THRESHOLDS: got"),
        ({"QUALITY_THRESHOLDS": '{"auc": "high"}'}, "QUALITY_THRESHOLDS: .*metric 'auc'"),
        ({"QUALITY_THRESHOLDS": '{"auc": true}'}, "QUALITY_THRESHOLDS: .*metric 'auc'"),
        (
            {"QUALITY_THRESHOLDS": '{"auc": {"minimum": 0.9, "maximum": 1}}'},
            "QUALITY_THRESHOLDS: .*metric 'auc' needs a finite number as its minimum or maximum",
        ),
        ({"QUALITY_THRESHOLDS": '{"auc": {"min": 0.9}}'}, "QUALITY_THRESHOLDS: .*metric 'auc'"),
        ({"QUALITY_THRESHOLDS": '{"auc": {"minimum": "x"}}'}, "QUALITY_THRESHOLDS: .*metric 'auc'"),
        ({"PRIMARY_METRIC_DIRECTION": "up"}, "PRIMARY_METRIC_DIRECTION: got 'up'; allowed: higher"),
        ({"PRIMARY_METRIC": None}, "PRIMARY_METRIC: required"),
        ({"NOTIFICATION_TOPIC_ARN": "model-approval"}, "NOTIFICATION_TOPIC_ARN: got"),
        ({"DEAD_LETTER_QUEUE_URL": "approval-dlq"}, "DEAD_LETTER_QUEUE_URL: got"),
        ({"GITHUB_REPOSITORY": "just-a-name"}, "GITHUB_REPOSITORY: got 'just-a-name'"),
        ({"GITHUB_REPOSITORY": "o/r"}, "GITHUB_TOKEN_SECRET_ARN: required when"),
        (
            {"GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN_SECRET_ARN": "github-token"},
            "GITHUB_TOKEN_SECRET_ARN: got 'github-token'",
        ),
        ({"GITHUB_API_URL": "http://api.github.com"}, "GITHUB_API_URL: got"),
        ({"GITHUB_API_URL": "file:///etc/passwd"}, "GITHUB_API_URL: got"),
        ({"GITHUB_BASE_BRANCH": "main..dev"}, "GITHUB_BASE_BRANCH: got"),
        ({"PROMOTION_MANIFEST_PATH": "/etc/promotion.yaml"}, "PROMOTION_MANIFEST_PATH: got"),
        ({"PROMOTION_MANIFEST_PATH": "../promotion.yaml"}, "PROMOTION_MANIFEST_PATH: got"),
        ({"PROMOTION_TARGET_ENVIRONMENT": "Prod"}, "PROMOTION_TARGET_ENVIRONMENT: got 'Prod'"),
        ({"PROMOTION_MODEL": "a model"}, "PROMOTION_MODEL: got 'a model'; expected the model's"),
    ],
)
def test_bad_setting_names_the_variable(changes: dict[str, Any], message: str) -> None:
    env = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        load_config(env)


def test_local_http_api_is_allowed_for_tests_only() -> None:
    assert load_config({**VALID, "GITHUB_API_URL": "http://127.0.0.1:8080"}).github_api_url


def test_handler_reports_bad_configuration_on_every_invocation(
    monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    for name, value in {**VALID, "APPROVAL_POLICY": "yolo"}.items():
        monkeypatch.setenv(name, value)
    handler.reset()
    for _ in range(2):
        with pytest.raises(ConfigError, match="APPROVAL_POLICY: got 'yolo'"):
            handler.lambda_handler({"id": "evt-1"}, LambdaContextStub())
    handler.reset()
    lines = log_lines()
    assert len(lines) == 2
    assert all(line["event_id"] == "evt-1" and line["level"] == "ERROR" for line in lines)
    assert "APPROVAL_POLICY" in lines[0]["exception"]
