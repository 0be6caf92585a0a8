#!/usr/bin/env python3
"""The reference app: one build stack, and one deploy stack per environment.

`cdk synth` builds every stack; `-c environments=staging` limits the deploy stacks and
`-c config_dir=path` reads settings from another folder.
Settings come from `config/`; configuration errors print one message and exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import App, Stack, Validations
from cdk_nag import AwsSolutionsChecks

from config.settings import CONFIG_DIR, Settings, load_settings
from constructs_lib.errors import ConfigurationError
from stacks.build import BuildStack
from stacks.deploy import DeployStack

APP_NAME = "mlops"


def build_app(app: App, settings: Settings) -> dict[str, Stack]:
    """Add the reference app's stacks to `app` and turn on cdk-nag for all of them.

    Stacks are named `mlops-build` and `mlops-<environment>`, so
    `cdk deploy mlops-staging` deploys exactly one environment.
    """
    build = BuildStack(
        app,
        f"{APP_NAME}-build",
        settings=settings.build,
        deploy_environments=settings.environments,
    )
    stacks: dict[str, Stack] = {"build": build}
    for name, environment in settings.environments.items():
        stacks[name] = DeployStack(
            app,
            f"{APP_NAME}-{name}",
            name=name,
            settings=environment,
            build=settings.build,
            pin=settings.promotion.environments.get(name),
            pipeline_prefix=build.pipeline.artifact_prefix,
            image_repository_arns=build.inference_image_repositories,
            github=settings.build.github,
        )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def main() -> None:
    app = App()
    requested = app.node.try_get_context("environments")
    environments = (
        [e.strip() for e in str(requested).split(",") if e.strip()] if requested else None
    )
    config_dir = app.node.try_get_context("config_dir")
    settings = load_settings(Path(config_dir) if config_dir else CONFIG_DIR, environments)
    build_app(app, settings)
    app.synth()


if __name__ == "__main__":
    try:
        main()
    except ConfigurationError as exc:
        sys.exit(f"configuration error: {exc}")
