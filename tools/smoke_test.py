#!/usr/bin/env python3
"""Smoke-test an environment: every model it serves answers its sample request.

    python tools/smoke_test.py --env staging [--endpoint-url URL] [--config-dir DIR]

For each model served and pinned in the environment (`Settings.served(env)`), sends its
pipeline package's `SAMPLE_REQUEST` (content type, body) to its endpoint with SageMaker
Runtime's InvokeEndpoint, the same call for real-time and serverless endpoints, and
checks the answer: HTTP 200, JSON, an object whose `predictions` list holds one item per
request row (no nulls, no NaN). Prints one line per model and exits 1 if any endpoint
failed or answered malformed, 2 on bad arguments or settings, 0 otherwise (also when the
environment serves no model yet).

The client uses the environment's region and the usual AWS credentials. `--endpoint-url`
points it elsewhere, e.g. the local stand-in (`tools/stand_in.py`); for a loopback URL it
signs with dummy credentials, as nothing there checks them.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
JSON = "application/json"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SmokeError(Exception):
    """An endpoint that failed the smoke test; the message says how."""


@dataclass(frozen=True)
class Target:
    """One endpoint to smoke-test and the request to send it."""

    model: str
    endpoint_name: str
    version: int
    content_type: str
    body: str | bytes
    problem: str | None = None
    """Why no request could be made (the package has no usable SAMPLE_REQUEST)."""


def targets(settings: Any, env: str) -> list[Target]:
    """The endpoints `env` serves, each with its package's sample request."""
    found = []
    for model, serving, version in settings.served(env):
        target = Target(model.name, serving.endpoint.name, version, "", "")
        module = f"pipelines.{model.pipeline.package}"
        try:
            content_type, body = importlib.import_module(module).SAMPLE_REQUEST
        except (ImportError, AttributeError, TypeError, ValueError) as error:
            target = replace(
                target, problem=f"no sample request ({module}.SAMPLE_REQUEST): {error}"
            )
        else:
            target = replace(target, content_type=content_type, body=body)
        found.append(target)
    return found


def request_rows(content_type: str, body: str | bytes) -> int:
    """How many rows (records) a request holds, so how many predictions it must get.

    CSV and JSON Lines: one per non-blank line; JSON: the length of `instances` or of a
    list of records, 1 for one flat record. Any other type is taken as one instance.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in {"text/csv", JSON, "application/jsonlines", "application/x-jsonlines"}:
        return 1
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if media_type == "text/csv":
        return sum(1 for row in csv.reader(io.StringIO(text)) if row)
    if media_type != JSON:  # JSON Lines
        return sum(1 for line in text.splitlines() if line.strip())
    payload = json.loads(text)
    if isinstance(payload, dict) and isinstance(payload.get("instances"), list):
        return len(payload["instances"])
    if isinstance(payload, list) and any(isinstance(item, list) for item in payload):
        return len(payload)
    return 1


def _is_prediction(value: Any) -> bool:
    """A finite number (a regressor's answer), or a non-empty object of finite numbers
    (a classifier's `{"label": 1, "probability": 0.97}`)."""
    if isinstance(value, dict):
        return bool(value) and all(_is_number(v) for v in value.values())
    return _is_number(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_answer(content_type: str | None, body: bytes, rows: int) -> list[Any]:
    """The predictions of a well-formed answer; raises SmokeError otherwise."""
    snippet = body[:200].decode("utf-8", "replace")
    if (content_type or "").split(";", 1)[0].strip().lower() != JSON:
        raise SmokeError(f"answered content type {content_type!r}, expected {JSON}: {snippet!r}")
    try:
        answer = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SmokeError(f"answer is not JSON: {snippet!r}") from None
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list):
        raise SmokeError(f'answer has no "predictions" list: {snippet!r}')
    if len(predictions) != rows:
        raise SmokeError(
            f"expected {rows} prediction(s), one per request row, got {len(predictions)}"
        )
    for number, item in enumerate(predictions, start=1):
        if not _is_prediction(item):
            raise SmokeError(
                f"prediction {number} is not a number or an object of numbers: {item!r}"
            )
    return predictions


def invoke(client: Any, target: Target) -> list[Any]:
    """Send the target its sample request; its predictions, or SmokeError."""
    from botocore.exceptions import BotoCoreError, ClientError

    if target.problem:
        raise SmokeError(target.problem)
    try:
        rows = request_rows(target.content_type, target.body)
    except ValueError as error:
        raise SmokeError(
            f"sample request does not parse as {target.content_type}: {error}"
        ) from None
    try:
        response = client.invoke_endpoint(
            EndpointName=target.endpoint_name,
            ContentType=target.content_type,
            Accept=JSON,
            Body=target.body,
        )
    except ClientError as error:
        details = error.response.get("Error", {})
        raise SmokeError(f"{details.get('Code')}: {details.get('Message')}") from None
    except BotoCoreError as error:
        raise SmokeError(f"{type(error).__name__}: {error}") from None
    return check_answer(response.get("ContentType"), response["Body"].read(), rows)


def run(targets: Sequence[Target], client: Any, out: Callable[[str], None] = print) -> int:
    """Smoke-test each target, one line each; the number that failed."""
    failed = 0
    for target in targets:
        where = f"{target.model} v{target.version} ({target.endpoint_name})"
        started = time.monotonic()
        try:
            predictions = invoke(client, target)
        except SmokeError as error:
            failed += 1
            out(f"FAIL {where}: {error}")
        else:
            seconds = time.monotonic() - started
            out(f"ok   {where}: {len(predictions)} prediction(s) in {seconds:.2f} s")
    return failed


def client_for(region: str | None, endpoint_url: str | None) -> Any:
    """A SageMaker Runtime client: real endpoints, or a stand-in at `endpoint_url`."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=10,
        read_timeout=90,  # a serverless cold start, then up to 60 s of inference
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    options: dict[str, Any] = {"config": config, "endpoint_url": endpoint_url}
    if endpoint_url and urlsplit(endpoint_url).hostname in LOOPBACK:
        dummy = "stand-in"  # a loopback stand-in checks no signature
        options.update(aws_access_key_id=dummy, aws_secret_access_key=dummy)
        region = region or "us-east-1"
    return boto3.client("sagemaker-runtime", region_name=region, **options)


def main(argv: Sequence[str] | None = None) -> int:
    """Smoke-test the endpoints of `--env`; 0 if all answered well."""
    parser = argparse.ArgumentParser(prog="smoke_test", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment to test, e.g. staging")
    parser.add_argument("--endpoint-url", help="SageMaker Runtime URL (default: AWS's)")
    parser.add_argument("--config-dir", type=Path, help="settings directory (default: config/)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:  # run as `python tools/smoke_test.py` from anywhere
        sys.path.insert(0, str(ROOT))
    from config.settings import load_settings
    from constructs_lib.errors import ConfigurationError

    try:
        options = {"config_dir": args.config_dir} if args.config_dir else {}
        settings = load_settings(environments=[args.env], **options)
        region = settings.environments[args.env].region
        found = targets(settings, args.env)
    except (ConfigurationError, OSError) as error:
        print(f"smoke_test: {error}", file=sys.stderr)
        return 2
    if not found:
        print(f"{args.env} serves no model yet: nothing to test")
        return 0
    failed = run(found, client_for(region, args.endpoint_url))
    print(f"{len(found) - failed} of {len(found)} endpoint(s) in {args.env} answered well")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
