#!/usr/bin/env python3
"""The reference app: a platform where every model in `config/models/` is built and served.

Stacks:
- `mlops-build`: what every model's build side shares (artifacts, topic, GitHub).
- `mlops-<model>-build`: one model's registry, pipeline, approval and retraining.
- `mlops-<environment>`: what every model served in an environment shares (store, GitHub).
- `mlops-<model>-<environment>`: one model's endpoint, monitor and alarms there, for
  each model with endpoint settings and a pinned version in that environment.
- `mlops-<model>-batch-<environment>`: one model's scheduled batch scoring and its
  monitor there, for each model with batch settings and a pinned version.

`cdk synth` builds every stack; `-c environments=staging` and `-c models=a,b` limit
them, and `-c config_dir=path` reads settings from another folder. Configuration errors
print one message and exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks

from config.settings import CONFIG_DIR, Settings, load_settings
from constructs_lib.errors import ConfigurationError
from stacks.batch import ModelBatchStack
from stacks.build import BuildStack
from stacks.deploy import ModelDeployStack
from stacks.environment import EnvironmentStack
from stacks.model_build import ModelBuildStack

APP_NAME = "mlops"


def build_app(app: App, settings: Settings, *, nag: bool = True) -> dict[str, Stack]:
    """Add the reference app's stacks to `app` and turn on cdk-nag for all of them
    (`nag=False`: not at all, for measurements that are not about findings).

    Returns the stacks by their ids (`mlops-build`, `mlops-<model>-build`,
    `mlops-<environment>`, `mlops-<model>-<environment>`,
    `mlops-<model>-batch-<environment>`).
    """
    stacks: dict[str, Stack] = {}
    shared = BuildStack(
        app,
        f"{APP_NAME}-build",
        settings=settings.build,
        reader_accounts=settings.reader_accounts,
    )
    stacks[shared.stack_name] = shared
    builds: dict[str, ModelBuildStack] = {}
    for model in settings.models.values():
        builds[model.name] = ModelBuildStack(
            app,
            f"{APP_NAME}-{model.name}-build",
            model=model,
            build=settings.build,
            shared=shared,
            file=settings.model_file(model.name),
            accounts=settings.environment_accounts,
        )
        stacks[builds[model.name].stack_name] = builds[model.name]
    for name, environment in settings.environments.items():
        env_stack = EnvironmentStack(
            app,
            f"{APP_NAME}-{name}",
            name=name,
            settings=environment,
            github=settings.build.github,
        )
        stacks[env_stack.stack_name] = env_stack
        for model, serving, version in settings.served(name):
            built = builds[model.name]
            stack = ModelDeployStack(
                app,
                f"{APP_NAME}-{model.name}-{name}",
                model=model,
                serving=serving,
                version=version,
                environment=env_stack,
                build=settings.build,
                pipeline_prefix=built.pipeline.artifact_prefix,
                image_repository_arns=built.inference_image_repositories,
                file=settings.model_file(model.name),
                environment_vpc=environment.vpc,
            )
            stacks[stack.stack_name] = stack
        for model, batch, version in settings.batched(name):
            built = builds[model.name]
            scoring = ModelBatchStack(
                app,
                f"{APP_NAME}-{model.name}-batch-{name}",
                model=model,
                batch=batch,
                version=version,
                environment=env_stack,
                build=settings.build,
                pipeline_prefix=built.pipeline.artifact_prefix,
                image_repository_arns=built.inference_image_repositories,
                file=settings.model_file(model.name),
                environment_vpc=environment.vpc,
            )
            stacks[scoring.stack_name] = scoring
    if nag:
        Validations.of(app).add_plugins(
            AwsSolutionsChecks(app),
            NIST80053R5Checks(app),
            HIPAASecurityChecks(app),
            ServerlessChecks(app),
        )
    return stacks


def _names(app: App, key: str) -> list[str] | None:
    requested = app.node.try_get_context(key)
    return [e.strip() for e in str(requested).split(",") if e.strip()] if requested else None


def main() -> None:
    app = App()
    config_dir = app.node.try_get_context("config_dir")
    settings = load_settings(
        Path(config_dir) if config_dir else CONFIG_DIR,
        environments=_names(app, "environments"),
        models=_names(app, "models"),
    )
    build_app(app, settings)
    app.synth()


if __name__ == "__main__":
    try:
        main()
    except ConfigurationError as exc:
        sys.exit(f"configuration error: {exc}")
