"""Test helpers for the approval function: event files, registry, outputs, fake GitHub.

GitHub calls go to `FakeGitHub`, an `http.server` on 127.0.0.1 (ephemeral port, one
thread) that keeps branches, files and pull requests in memory, checks every request
(method, path, JSON payload, Authorization and Accept headers) and can be told to fail.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from hashlib import sha1
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the repository root holds the `lambdas` package
    sys.path.insert(0, str(ROOT))

from lambdas.approval.config import Threshold  # noqa: E402
from lambdas.approval.logic import Clients  # noqa: E402

EVENTS = Path(__file__).parent / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
GROUP = "tabular-classifier"
BUCKET = "mlops-artifacts-123456789012"
REPOSITORY = "example-org/mlops-models"
TOKEN = "ghp_testtoken0123456789"
MANIFEST_PATH = "config/promotion.yaml"
OTHER_MODEL = "diabetes-regressor"
MANIFEST_TEXT = """\
# Which model package version each model serves in each environment.
#
# Promotion is a pull request that changes one pin below; rollback is its revert.
models:
  tabular-classifier:
    staging: null
    prod: null   # promoted from staging by tools/promote.py
  diabetes-regressor:
    staging: 4
    prod: 3
"""
EPOCH = 1_790_000_000.0  # the fake wall clock's start (UTC epoch seconds)
THRESHOLDS = {"accuracy": Threshold(0.9), "auc": Threshold(0.9)}


def thresholds_env(thresholds: dict[str, Threshold]) -> str:
    """`QUALITY_THRESHOLDS` as `ModelApproval` writes it."""
    return json.dumps({name: {t.kind: t.limit} for name, t in thresholds.items()})


def load_event(name: str, **detail: Any) -> dict[str, Any]:
    """An event file from `events/`, with `detail` fields overridden."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    event["detail"].update(detail)
    return event


def package_event(name: str, arn: str, **detail: Any) -> dict[str, Any]:
    """An event file rewritten to describe the package `arn` (its version and resources)."""
    version = int(arn.rsplit("/", 1)[1])
    event = load_event(name, ModelPackageArn=arn, ModelPackageVersion=version, **detail)
    event["resources"] = [arn]
    return event


def report(**metrics: float) -> dict[str, Any]:
    """A SageMaker model quality report with the given metric values."""
    return {
        "binary_classification_metrics": {
            name: {"value": value, "standard_deviation": 0.01} for name, value in metrics.items()
        }
    }


@dataclass
class Registry:
    """Creates packages (with their evaluation reports) in moto's model registry."""

    clients: Clients

    def add(
        self,
        metrics: dict[str, Any] | None = None,
        status: str = "PendingManualApproval",
        *,
        group: str = GROUP,
        with_report: bool = True,
    ) -> str:
        existing = self.clients.sagemaker.list_model_packages(ModelPackageGroupName=group)
        version = len(existing["ModelPackageSummaryList"]) + 1
        key = f"pipelines/{group}/execution-{version}/evaluation/evaluation.json"
        kwargs: dict[str, Any] = {}
        if with_report:
            kwargs["ModelMetrics"] = {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": f"s3://{BUCKET}/{key}",
                    }
                }
            }
        if metrics is not None:
            self.clients.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(metrics).encode())
        created = self.clients.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": f"683313688378.dkr.ecr.{REGION}.amazonaws.com/"
                        "sagemaker-xgboost:1.7-1",
                        "ModelDataUrl": f"s3://{BUCKET}/pipelines/{group}/model-{version}.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            **kwargs,
        )
        arn: str = created["ModelPackageArn"]
        return arn

    def status(self, arn: str) -> tuple[str, str | None]:
        package = self.clients.sagemaker.describe_model_package(ModelPackageName=arn)
        return package["ModelApprovalStatus"], package.get("ApprovalDescription")

    def set_status(self, arn: str, status: str, description: str = "") -> None:
        self.clients.sagemaker.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus=status, ApprovalDescription=description
        )


@dataclass
class Outputs:
    """Reads what the function published (SNS, through an SQS subscription) and dead-lettered."""

    clients: Clients
    topic_arn: str
    inbox_url: str
    dlq_url: str

    def _drain(self, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            got = self.clients.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return messages
            for message in got:
                messages.append(message)
                self.clients.sqs.delete_message(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                )

    def notifications(self) -> list[dict[str, Any]]:
        """SNS notifications: Subject, Message and MessageAttributes (name -> value)."""
        result = []
        for message in self._drain(self.inbox_url):
            body = json.loads(message["Body"])
            body["MessageAttributes"] = {
                k: v["Value"] for k, v in body.get("MessageAttributes", {}).items()
            }
            result.append(body)
        return result

    def dead_letters(self) -> list[tuple[Any, dict[str, str]]]:
        """DLQ messages: parsed body and message attributes (name -> value)."""
        return [
            (
                json.loads(m["Body"]),
                {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()},
            )
            for m in self._drain(self.dlq_url)
        ]


@dataclass
class Request:
    """One request the fake GitHub received."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class FakeGitHub:
    """In-memory GitHub for one repository, served over HTTP on 127.0.0.1."""

    repository: str = REPOSITORY
    token: str = TOKEN
    branches: dict[str, str] = field(default_factory=dict)
    files: dict[tuple[str, str], str] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    url: str = ""
    _commits: int = 0

    def seed(self, branch: str, path: str, text: str) -> None:
        self.branches[branch] = self._commit()
        self.files[(branch, path)] = text

    def fail(
        self,
        method: str,
        path: str,
        status: int = 502,
        times: int = 1000,
        message: str = "Bad",
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer `status` to the next `times` requests matching `method` and regex `path`.

        The answer's body is `{"message": message}` unless `body` is given; `headers` are
        added to the response (e.g. Retry-After).
        """
        self.failures.append(
            Failure(method, re.compile(path), status, times, message, headers or {}, body)
        )

    def calls(self, method: str, pattern: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def _commit(self) -> str:
        self._commits += 1
        return sha1(str(self._commits).encode()).hexdigest()  # noqa: S324 - not security

    @staticmethod
    def blob(text: str) -> str:
        return sha1(text.encode()).hexdigest()  # noqa: S324 - not security

    # -- request handling ------------------------------------------------------------

    def respond(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        """Status, JSON body and extra headers for one request."""
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        if request.headers.get("accept") != "application/vnd.github+json":
            return 415, {"message": "Unsupported Accept header"}, {}
        for failure in self.failures:
            matches = failure.method == request.method and failure.path.search(request.path)
            if matches and failure.times > 0:
                failure.times -= 1
                body = {"message": failure.message} if failure.body is None else failure.body
                return failure.status, body, failure.headers
        return (*self.handle(request), {})

    # -- GitHub's rate-limit answers (shapes from its REST documentation) ------------

    def primary_rate_limit(
        self, method: str, path: str, *, reset: float, status: int = 403, times: int = 1000
    ) -> None:
        """Answer as GitHub does once the primary limit is used up, until epoch `reset`."""
        self.fail(
            method,
            path,
            status,
            times,
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(int(reset)),
                "x-ratelimit-resource": "core",
            },
            body={
                "message": "API rate limit exceeded for user ID 1234567.",
                "documentation_url": "https://docs.github.com/rest/overview/"
                "rate-limits-for-the-rest-api",
                "status": str(status),
            },
        )

    def secondary_rate_limit(
        self,
        method: str,
        path: str,
        *,
        retry_after: int | None = None,
        status: int = 403,
        times: int = 1000,
    ) -> None:
        """Answer as GitHub does for a secondary limit (primary quota left, maybe retry-after)."""
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4987",
            "x-ratelimit-used": "13",
            "x-ratelimit-reset": str(int(EPOCH) + 3600),
            "x-ratelimit-resource": "core",
        }
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.fail(
            method,
            path,
            status,
            times,
            headers=headers,
            body={
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes"
                " before you try again. If you reach out to GitHub Support for help, please"
                " include the request ID 0000:1111:2222:3333:44444444.",
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/"
                "overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": str(status),
            },
        )

    def handle(self, request: Request) -> tuple[int, Any]:
        prefix = f"/repos/{self.repository}"
        if not request.path.startswith(prefix + "/"):
            return 404, {"message": "Not Found"}
        route = request.path[len(prefix) :]
        if request.method == "GET" and route.startswith("/git/ref/heads/"):
            return self._get_ref(route.removeprefix("/git/ref/heads/"))
        if request.method == "POST" and route == "/git/refs":
            return self._create_ref(request.body)
        if route.startswith("/contents/"):
            path = route.removeprefix("/contents/")
            if request.method == "GET":
                return self._get_file(path, request.query.get("ref", "main"))
            if request.method == "PUT":
                return self._put_file(path, request.body)
        if route == "/pulls" and request.method == "GET":
            return self._list_pulls(request.query)
        if route == "/pulls" and request.method == "POST":
            return self._create_pull(request.body)
        return 404, {"message": "Not Found"}

    def _get_ref(self, branch: str) -> tuple[int, Any]:
        if branch not in self.branches:
            return 404, {"message": "Not Found"}
        return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": self.branches[branch]}}

    def _create_ref(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or set(body) != {"ref", "sha"}:
            return 422, {"message": "Invalid request: ref and sha are required"}
        name = str(body["ref"]).removeprefix("refs/heads/")
        if name in self.branches:
            return 422, {"message": "Reference already exists"}
        source = next((b for b, sha in self.branches.items() if sha == body["sha"]), None)
        if source is None:
            return 422, {"message": "Object does not exist"}
        self.branches[name] = body["sha"]
        for (branch, path), text in list(self.files.items()):
            if branch == source:
                self.files[(name, path)] = text
        return 201, {"ref": body["ref"], "object": {"sha": body["sha"]}}

    def _get_file(self, path: str, ref: str) -> tuple[int, Any]:
        text = self.files.get((ref, path))
        if text is None:
            return 404, {"message": "Not Found"}
        encoded = base64.encodebytes(text.encode()).decode()  # GitHub wraps lines, like this
        return 200, {"path": path, "sha": self.blob(text), "encoding": "base64", "content": encoded}

    def _put_file(self, path: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not {"message", "content", "sha", "branch"} <= set(body):
            return 422, {"message": "Invalid request: message, content, sha, branch required"}
        key = (body["branch"], path)
        if key not in self.files:
            return 404, {"message": "Not Found"}
        if body["sha"] != self.blob(self.files[key]):
            return 409, {"message": f"{path} does not match {body['sha']}"}
        self.files[key] = base64.b64decode(body["content"]).decode()
        self.branches[body["branch"]] = self._commit()
        return 200, {"content": {"path": path, "sha": self.blob(self.files[key])}}

    def _open_pull(self, head: str, base: str) -> dict[str, Any] | None:
        return next(
            (
                p
                for p in self.pulls
                if p["head"] == head and p["base"] == base and p["state"] == "open"
            ),
            None,
        )

    def _list_pulls(self, query: dict[str, str]) -> tuple[int, Any]:
        owner = self.repository.split("/")[0]
        head = query.get("head", "").removeprefix(f"{owner}:")
        return 200, [
            p
            for p in self.pulls
            if p["head"] == head
            and p["base"] == query.get("base", p["base"])
            and p["state"] == query.get("state", "open")
        ]

    def _create_pull(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not {"title", "head", "base", "body"} <= set(body):
            return 422, {"message": "Invalid request: title, head, base and body required"}
        if self._open_pull(body["head"], body["base"]):
            return 422, {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {body['head']}.",
                    }
                ],
            }
        head_files = {p: t for (b, p), t in self.files.items() if b == body["head"]}
        base_files = {p: t for (b, p), t in self.files.items() if b == body["base"]}
        if head_files == base_files:
            return 422, {"message": f"No commits between {body['base']} and {body['head']}"}
        number = len(self.pulls) + 1
        pull = {
            "number": number,
            "html_url": f"https://github.com/{self.repository}/pull/{number}",
            "state": "open",
            **{k: body[k] for k in ("title", "head", "base", "body")},
        }
        self.pulls.append(pull)
        return 201, pull


def serve(fake: FakeGitHub) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=unquote(parts.path),
                query={k: v[0] for k, v in parse_qs(parts.query).items()},
                body=json.loads(raw) if raw else None,
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            status, body, headers = fake.respond(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _respond  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


class LambdaContextStub:
    """The attributes powertools' `inject_lambda_context` reads."""

    function_name = "model-approval"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:model-approval"
    memory_limit_in_mb = 256
    aws_request_id = "b6f3c1d2-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/model-approval"
    log_stream_name = "2026/11/20/[$LATEST]abcdef"


@dataclass
class FakeClock:
    """Time that passes only when the code under test sleeps: `sleep`, `remaining` (the
    invocation's time left, from `limit` seconds) and `time` (wall clock from `EPOCH`)."""

    limit: float
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def remaining(self) -> float:
        return self.limit - self.now

    def time(self) -> float:
        return EPOCH + self.now
