"""Shared test set-up: quiet jsii, cdk.json's feature flags, a fresh stack per test."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "111111111111"
REGION = "eu-west-1"

os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)


def cdk_context() -> dict[str, Any]:
    """The feature flags from cdk.json, so tests synthesize what `cdk synth` does."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


@pytest.fixture
def stack():  # type: ignore[no-untyped-def]
    """An empty stack with a concrete account and region (what the reference app uses)."""
    from aws_cdk import App, Environment, Stack

    app = App(context=cdk_context())
    return Stack(app, "Test", env=Environment(account=ACCOUNT, region=REGION))
