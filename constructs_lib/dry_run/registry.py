"""The model registry, the state-change event and the approval function, run locally.

`LocalCloud` starts moto (`mock_aws`) in the stacks' account and region. `register`
validates a RegisterModel step's request against botocore's `CreateModelPackage` shape
and records it in moto's SageMaker. `deliver` builds the "SageMaker Model Package State
Change" event for a package, matches it against every `AWS::Events::Rule` pattern of
the assembly, and invokes each Lambda target in-process: its code from the assembly's
asset, its environment as the template sets it (stand-ins resolved), SNS, SQS, S3 and
Secrets Manager on moto, and `GITHUB_API_URL` pointed at `LoopbackGitHub`, an HTTP
server on 127.0.0.1 that records branches, file changes and pull requests.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import json
import os
import re
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from constructs_lib.dry_run.assembly import Assembly, Stack, resources
from constructs_lib.dry_run.errors import DryRunError
from constructs_lib.dry_run.localfs import LocalS3, split_uri

EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"


def validate_request(step: str, request: Mapping[str, Any]) -> None:
    """The register request against botocore's CreateModelPackage input shape."""
    validate(step, "CreateModelPackage", request)


def validate(step: str, operation: str, request: Mapping[str, Any]) -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(dict(request), model.operation_model(operation).input_shape)
    if report.has_errors():
        lines = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
        raise DryRunError(step, "Arguments", f"a valid {operation} request: " + "; ".join(lines))


@dataclass
class PullRequest:
    """A pull request the loopback GitHub received."""

    number: int
    title: str
    head: str
    base: str
    body: str
    changes: dict[str, str]
    """Path -> new content, on the head branch."""


@dataclass
class LoopbackGitHub:
    """A minimal GitHub REST API for one repository, on 127.0.0.1 (branches, contents,
    pull requests: what the approval function calls)."""

    repository: str
    base_branch: str
    files: dict[tuple[str, str], str] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    pulls: list[PullRequest] = field(default_factory=list)
    url: str = ""

    def seed(self, path: str, text: str) -> None:
        self.branches[self.base_branch] = _sha(self.base_branch)
        self.files[(self.base_branch, path)] = text

    @contextlib.contextmanager
    def serving(self) -> Iterator[LoopbackGitHub]:
        github = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, payload = github.handle(self.command, unquote(parts.path), query, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = _answer  # noqa: N815 (http.server names)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        prefix = f"/repos/{self.repository}"
        if not path.startswith(prefix + "/"):
            return 404, {"message": "Not Found"}
        route = path[len(prefix) :]
        if method == "GET" and route.startswith("/git/ref/heads/"):
            branch = route.removeprefix("/git/ref/heads/")
            if branch not in self.branches:
                return 404, {"message": "Not Found"}
            return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": self.branches[branch]}}
        if method == "POST" and route == "/git/refs":
            name = str(body["ref"]).removeprefix("refs/heads/")
            if name in self.branches:
                return 422, {"message": "Reference already exists"}
            source = next(
                (b for b, s in self.branches.items() if s == body["sha"]), self.base_branch
            )
            self.branches[name] = body["sha"]
            for (branch, file), text in list(self.files.items()):
                if branch == source:
                    self.files[(name, file)] = text
            return 201, {"ref": body["ref"], "object": {"sha": body["sha"]}}
        if route.startswith("/contents/"):
            file = route.removeprefix("/contents/")
            if method == "GET":
                found = self.files.get((query.get("ref", self.base_branch), file))
                if found is None:
                    return 404, {"message": "Not Found"}
                text = found
                encoded = base64.b64encode(text.encode()).decode()
                return 200, {
                    "path": file,
                    "sha": _sha(text),
                    "encoding": "base64",
                    "content": encoded,
                }
            if method == "PUT":
                branch = str(body["branch"])
                text = base64.b64decode(body["content"]).decode()
                self.files[(branch, file)] = text
                self.branches[branch] = _sha(branch + text)
                return 200, {"content": {"path": file, "sha": _sha(text)}}
        if route == "/pulls" and method == "GET":
            head = query.get("head", "").split(":")[-1]
            pulls = [
                p for p in self.pulls if p.head == head and p.base == query.get("base", p.base)
            ]
            return 200, [self._pull(p) for p in pulls]
        if route == "/pulls" and method == "POST":
            head = str(body["head"])
            changes = {
                file: text
                for (branch, file), text in self.files.items()
                if branch == head and self.files.get((self.base_branch, file)) != text
            }
            pull = PullRequest(
                len(self.pulls) + 1,
                str(body["title"]),
                head,
                str(body["base"]),
                str(body.get("body", "")),
                changes,
            )
            self.pulls.append(pull)
            return 201, self._pull(pull)
        return 404, {"message": "Not Found"}

    def _pull(self, pull: PullRequest) -> dict[str, Any]:
        return {
            "number": pull.number,
            "html_url": f"https://github.com/{self.repository}/pull/{pull.number}",
            "state": "open",
            "title": pull.title,
            "head": {"ref": pull.head},
            "base": {"ref": pull.base},
        }


def unpinned(manifest: str, model: str) -> str:
    """`manifest` with every pin of `model` set to null: the local registry starts empty,
    so a version pinned in the checkout does not exist there."""
    lines = manifest.splitlines(keepends=True)
    inside, indent = False, 0
    for position, line in enumerate(lines):
        stripped = line.strip()
        width = len(line) - len(line.lstrip())
        if stripped.startswith(f"{model}:"):
            inside, indent = True, width
            continue
        if inside and stripped and not stripped.startswith("#"):
            if width <= indent:
                inside = False
                continue
            lines[position] = (
                re.sub(r"^(\s*[\w-]+:\s*)[^#\n]*?(\s*(#.*)?)$", r"\1null\2", line.rstrip("\n"))
                + "\n"
            )
    return "".join(lines)


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Delivery:
    """One event handed to one function, and what came of it."""

    event: dict[str, Any]
    function: str
    result: Any = None
    error: str | None = None


@dataclass
class ApprovalOutcome:
    """What the registry and the approval functions did after a registration."""

    package_arn: str
    statuses: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    pull_requests: list[PullRequest] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: int = 0


class LocalCloud:
    """moto for one pipeline run (account and region of the pipeline's stack)."""

    def __init__(self, assembly: Assembly, stack: Stack, repo_root: Path | None, log: Path) -> None:
        self.log = log
        """Where the functions' output goes (their log)."""
        self.assembly = assembly
        self.stack = stack
        self.repo_root = repo_root
        self._stack = contextlib.ExitStack()
        self._inbox: str | None = None

    def __enter__(self) -> LocalCloud:
        saved = {k: os.environ.get(k) for k in _AWS_ENV}
        self._stack.callback(_restore, saved)
        os.environ.update(
            AWS_ACCESS_KEY_ID="dry-run",
            AWS_SECRET_ACCESS_KEY="dry-run",  # noqa: S106 (moto stand-in)
            AWS_SESSION_TOKEN="dry-run",  # noqa: S106
            AWS_DEFAULT_REGION=self.stack.region,
            AWS_REGION=self.stack.region,
            MOTO_ACCOUNT_ID=self.stack.account,
        )
        from moto import mock_aws

        self._stack.enter_context(mock_aws())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.stack.region)

    def register(self, step: str, request: Mapping[str, Any], s3: LocalS3) -> dict[str, Any]:
        validate_request(step, request)
        sagemaker = self.client("sagemaker")
        group = str(request.get("ModelPackageGroupName", ""))
        with contextlib.suppress(sagemaker.exceptions.ClientError):
            sagemaker.create_model_package_group(ModelPackageGroupName=group)
        for uri in sorted(set(_s3_uris(request))):
            self._copy_to_moto(uri, s3)
        created = sagemaker.create_model_package(**request)
        arn = str(created["ModelPackageArn"])
        described = sagemaker.describe_model_package(ModelPackageName=arn)
        return {k: v for k, v in described.items() if k != "ResponseMetadata"}

    def _copy_to_moto(self, uri: str, s3: LocalS3) -> None:
        bucket, _ = split_uri(uri)
        client = self.client("s3")
        with contextlib.suppress(client.exceptions.ClientError):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.stack.region}
            )
        for found, path in s3.objects(uri).items():
            client.put_object(Bucket=bucket, Key=found, Body=path.read_bytes())

    # -- the event and its targets ----------------------------------------------------

    def event(self, package: Mapping[str, Any]) -> dict[str, Any]:
        detail = json.loads(json.dumps(dict(package), default=_iso))
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": EVENT_DETAIL_TYPE,
            "source": "aws.sagemaker",
            "account": self.stack.account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.stack.region,
            "resources": [package["ModelPackageArn"]],
            "detail": detail,
        }

    def targets(self, event: Mapping[str, Any]) -> list[tuple[Stack, str, dict[str, Any]]]:
        """(stack, logical id, function resource) of every Lambda a matching rule targets."""
        found = []
        for stack in self.assembly.stacks:
            for _, rule in resources(stack, "AWS::Events::Rule"):
                properties = rule.get("Properties", {})
                pattern = self.assembly.resolve(stack, properties.get("EventPattern"))
                if properties.get("State", "ENABLED") != "ENABLED" or not matches(pattern, event):
                    continue
                for target in properties.get("Targets", []):
                    arn = target.get("Arn", {})
                    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                        logical_id = arn["Fn::GetAtt"][0]
                        resource = stack.template["Resources"].get(logical_id, {})
                        if resource.get("Type") == "AWS::Lambda::Function":
                            found.append((stack, logical_id, resource))
        return found

    def deliver(self, package_arn: str, approve: bool) -> ApprovalOutcome:
        """Send the package's state-change event to its rules' functions; when a manual
        policy leaves it pending and `approve` is set, approve it as a reviewer would and
        send that change too."""
        sagemaker = self.client("sagemaker")
        outcome = ApprovalOutcome(package_arn)
        github: LoopbackGitHub | None = None
        with contextlib.ExitStack() as servers:
            for _round in range(3):
                package = sagemaker.describe_model_package(ModelPackageName=package_arn)
                package = {k: v for k, v in package.items() if k != "ResponseMetadata"}
                status = str(package.get("ModelApprovalStatus"))
                outcome.statuses.append(status)
                event = self.event(package)
                targets = self.targets(event)
                for stack, logical_id, resource in targets:
                    if github is None:
                        github = self._github(stack, resource)
                        servers.enter_context(github.serving())
                    outcome.deliveries.append(
                        self._invoke(stack, logical_id, resource, event, github.url)
                    )
                after = str(
                    sagemaker.describe_model_package(ModelPackageName=package_arn)[
                        "ModelApprovalStatus"
                    ]
                )
                if after != status:
                    continue  # the function changed it: EventBridge sends that change too
                if status == "PendingManualApproval" and approve:
                    sagemaker.update_model_package(
                        ModelPackageArn=package_arn,
                        ModelApprovalStatus="Approved",
                        ApprovalDescription="Approved by the dry run (standing in for a reviewer)",
                    )
                    continue
                break
        if github is not None:
            outcome.pull_requests = list(github.pulls)
        outcome.notifications = self._drain()
        return outcome

    def _github(self, stack: Stack, resource: Mapping[str, Any]) -> LoopbackGitHub:
        env = self._environment(stack, resource)
        github = LoopbackGitHub(
            env.get("GITHUB_REPOSITORY", "owner/repo"), env.get("GITHUB_BASE_BRANCH", "main")
        )
        manifest = env.get("PROMOTION_MANIFEST_PATH")
        if manifest:
            local = (self.repo_root / manifest) if self.repo_root else None
            model = env.get("PROMOTION_MODEL", env.get("MODEL_PACKAGE_GROUP_NAME", "model"))
            target = env.get("PROMOTION_TARGET_ENVIRONMENT", "staging")
            if local is not None and local.is_file():
                text = unpinned(local.read_text(), model)
            else:
                text = f"models:\n  {model}:\n    {target}: null\n"
            github.seed(manifest, text)
        return github

    def _environment(self, stack: Stack, resource: Mapping[str, Any]) -> dict[str, str]:
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        resolved = self.assembly.resolve(stack, variables)
        return {str(k): str(v) for k, v in resolved.items()}

    def _stand_in_resources(self, env: Mapping[str, str]) -> None:
        """Create in moto what the function's environment names: topics, queues, secrets."""
        for name, value in env.items():
            if value.startswith("arn:aws:sns:"):
                topic = self.client("sns").create_topic(Name=value.rsplit(":", 1)[-1])["TopicArn"]
                if self._inbox is None:
                    sqs = self.client("sqs")
                    self._inbox = sqs.create_queue(QueueName="dry-run-notifications")["QueueUrl"]
                    inbox_arn = sqs.get_queue_attributes(
                        QueueUrl=self._inbox, AttributeNames=["QueueArn"]
                    )["Attributes"]["QueueArn"]
                    self.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
            elif value.startswith("https://sqs."):
                self.client("sqs").create_queue(QueueName=value.rsplit("/", 1)[-1])
            elif value.startswith("arn:aws:secretsmanager:") and name.endswith("SECRET_ARN"):
                secrets = self.client("secretsmanager")
                with contextlib.suppress(secrets.exceptions.ResourceExistsException):
                    secrets.create_secret(
                        Name=value.split(":secret:", 1)[1], SecretString="dry-run-token"
                    )

    def _invoke(
        self,
        stack: Stack,
        logical_id: str,
        resource: Mapping[str, Any],
        event: dict[str, Any],
        github_url: str,
    ) -> Delivery:
        properties = resource.get("Properties", {})
        env = self._environment(stack, resource)
        if "GITHUB_REPOSITORY" in env:
            env["GITHUB_API_URL"] = github_url
        self._stand_in_resources(env)
        code = self._code(stack, logical_id, properties)
        handler = str(properties.get("Handler", "index.handler"))
        module_name, _, function_name = handler.rpartition(".")
        delivery = Delivery(event, f"{stack.name}/{logical_id}")
        saved = {k: os.environ.get(k) for k in env}
        top = module_name.split(".")[0]
        previous = {k: v for k, v in sys.modules.items() if k == top or k.startswith(top + ".")}
        for name in previous:
            del sys.modules[name]
        os.environ.update(env)
        os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", logical_id)
        sys.path.insert(0, str(code))
        try:
            with (
                self.log.open("a") as log,
                contextlib.redirect_stdout(log),
                contextlib.redirect_stderr(log),
            ):
                module = importlib.import_module(module_name)
                reset = getattr(module, "reset", None)
                if callable(reset):
                    reset()
                delivery.result = getattr(module, function_name)(event, _Context(logical_id))
        except Exception as error:
            delivery.error = f"{type(error).__name__}: {error}"
        finally:
            sys.path.remove(str(code))
            for name in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
                del sys.modules[name]
            sys.modules.update(previous)
            _restore(saved)
        return delivery

    def _code(self, stack: Stack, logical_id: str, properties: Mapping[str, Any]) -> Path:
        code = properties.get("Code", {})
        key = str(self.assembly.resolve(stack, code.get("S3Key", "")))
        asset = stack.assets.get(key)
        if asset is None:
            raise DryRunError(
                f"{stack.name}/{logical_id}", "Code.S3Key", f"an asset of the assembly, not {key!r}"
            )
        if asset.is_dir():
            return asset
        target = Path(os.environ.get("TMPDIR", "/tmp")) / f"dry-run-lambda-{key}"  # noqa: S108
        if not target.is_dir():
            with zipfile.ZipFile(asset) as opened:
                opened.extractall(target)
        return target

    def _drain(self) -> list[dict[str, Any]]:
        if self._inbox is None:
            return []
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self._inbox, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not got:
                return messages
            for message in got:
                body = json.loads(message["Body"])
                messages.append({"Subject": body.get("Subject"), "Message": body.get("Message")})
                sqs.delete_message(QueueUrl=self._inbox, ReceiptHandle=message["ReceiptHandle"])


class _Context:
    """The bits of a Lambda context a handler reads."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:::function:{name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "dry-run"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "MOTO_ACCOUNT_ID",
    "AWS_LAMBDA_FUNCTION_NAME",
)


def _restore(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _s3_uris(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _s3_uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from _s3_uris(item)
    elif isinstance(value, str) and value.startswith("s3://"):
        yield value


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the common cases: literal lists, nested objects,
    `prefix`, `anything-but`, `exists`."""
    if not isinstance(pattern, dict):
        return False
    for key, wanted in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(wanted, dict):
            if not present or not matches(wanted, value):
                return False
        elif isinstance(wanted, list):
            values = value if isinstance(value, list) else [value]
            if not any(_match_one(w, v, present) for w in wanted for v in values):
                return False
    return True


def _match_one(wanted: Any, value: Any, present: bool) -> bool:
    if isinstance(wanted, dict):
        if "prefix" in wanted:
            return isinstance(value, str) and value.startswith(str(wanted["prefix"]))
        if "anything-but" in wanted:
            excluded = wanted["anything-but"]
            return value not in (excluded if isinstance(excluded, list) else [excluded])
        if "exists" in wanted:
            return bool(wanted["exists"]) == present
        return False
    return present and wanted == value
