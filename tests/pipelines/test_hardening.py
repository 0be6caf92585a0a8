"""Every reference definition: each job isolated with encrypted inter-container traffic,
in the build VPC when one is set, on pinned images (see `tests.support.hardening`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import CONFIG_DIR
from constructs_lib.errors import ConfigurationError
from stacks.build import BUILD_DIR, cached_definition, definition_key, pipeline_package
from tests.support.hardening import network_problems, unpinned_images

REGION = "eu-west-1"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
GROUPS = ["sg-0123456789abcdef0"]
MODELS = sorted(p.stem for p in (CONFIG_DIR / "models").glob("*.yaml"))
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "house_prices"


def reference_definition(model: str, cache: Path | None, **network: Any) -> dict[str, Any]:
    """The model's definition as the app builds it (its file's package and parameters),
    from the app's own definition cache unless `cache` names another folder."""
    settings = yaml.safe_load((CONFIG_DIR / "models" / f"{model}.yaml").read_text())
    package = pipeline_package(settings["pipeline"]["package"], model)
    return cached_definition(
        package,
        cache or BUILD_DIR / "definitions" / settings["pipeline"]["package"],
        pipeline_name=model,
        model_package_group_name=model,
        region=REGION,
        **network,
        **settings["pipeline"].get("parameters", {}),
    )


@pytest.mark.parametrize("model", MODELS)
def test_every_job_is_isolated_on_pinned_images(model):
    definition = reference_definition(model, None)
    assert network_problems(definition) == []
    assert unpinned_images(definition) == []


@pytest.mark.parametrize("model", MODELS)
def test_every_job_runs_in_the_build_vpc(model):
    # The app's own cache, with the VPC tests/config/test_vpc_app.py synthesizes: one build.
    definition = reference_definition(model, None, subnet_ids=SUBNETS, security_group_ids=GROUPS)
    assert network_problems(definition, (SUBNETS, GROUPS)) == []
    # ... and the VPC is part of the cache key, so it never reuses the definition without.
    settings = yaml.safe_load((CONFIG_DIR / "models" / f"{model}.yaml").read_text())
    package = pipeline_package(settings["pipeline"]["package"], model)
    parameters = settings["pipeline"].get("parameters", {})
    assert definition_key(package, region=REGION, **parameters) != definition_key(
        package, region=REGION, subnet_ids=SUBNETS, security_group_ids=GROUPS, **parameters
    )


def test_the_example_app_definition_is_isolated_on_pinned_images(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("definition", None)
    from definition import pipeline_definition  # type: ignore[import-not-found]

    definition = pipeline_definition(region=REGION, model_package_group_name="house-prices")
    sys.modules.pop("definition", None)
    assert network_problems(definition) == []
    assert unpinned_images(definition) == []


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (
            {"subnet_ids": SUBNETS},
            r"build_pipeline security_group_ids: got \[\]; allowed 1 to 5 ids when the other"
            r" VPC list is given, or none",
        ),
        (
            {"subnet_ids": ["subnet-1"], "security_group_ids": GROUPS},
            r"build_pipeline subnet_ids: got \['subnet-1'\]; allowed each subnet-<8 or 17 hex",
        ),
        (
            {"subnet_ids": SUBNETS, "security_group_ids": GROUPS * 6},
            r"build_pipeline security_group_ids: got \[.*\]; allowed 1 to 5 ids",
        ),
        (
            {"subnet_ids": "subnet-0123456789abcdef0", "security_group_ids": GROUPS},
            r"build_pipeline subnet_ids: got a str .*; allowed a list of subnet-",
        ),
    ],
)
@pytest.mark.parametrize("model", MODELS)
def test_bad_vpc_arguments_are_configuration_errors(model, network, message, tmp_path):
    with pytest.raises(ConfigurationError, match=message):
        reference_definition(model, tmp_path, **network)
