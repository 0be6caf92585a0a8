#!/usr/bin/env python3
"""The reference app: one build stack, and one deploy stack per environment.

`cdk synth` builds every stack; `-c environments=staging` limits the deploy stacks.
Settings come from `config/`; configuration errors print one message and exit 1.
"""

from __future__ import annotations

import sys

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from config.settings import Settings, load_settings
from constructs_lib.errors import ConfigurationError
from stacks.build import BuildStack

APP_NAME = "mlops"


def build_app(app: App, settings: Settings) -> dict[str, BuildStack]:
    """Add the reference app's stacks to `app` and turn on cdk-nag for all of them."""
    build = BuildStack(
        app,
        f"{APP_NAME}-build",
        settings=settings.build,
        deploy_environments=settings.environments,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return {"build": build}


def main() -> None:
    app = App()
    requested = app.node.try_get_context("environments")
    environments = [e.strip() for e in str(requested).split(",") if e.strip()] if requested else None
    build_app(app, load_settings(environments=environments))
    app.synth()


if __name__ == "__main__":
    try:
        main()
    except ConfigurationError as exc:
        sys.exit(f"configuration error: {exc}")
