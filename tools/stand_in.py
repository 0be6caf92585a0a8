#!/usr/bin/env python3
"""A local stand-in for SageMaker Runtime's InvokeEndpoint, answering with a model's own code.

    python tools/stand_in.py --endpoint tabular-classifier-staging=tabular_classifier:model.tar.gz
                             [--endpoint NAME=PACKAGE:ARTIFACT ...] [--port 8080]
                             [--lifetime 600] [--max-requests 1000]

Serves `POST /endpoints/<name>/invocations` on 127.0.0.1 only, as botocore sends it
(`boto3.client("sagemaker-runtime", endpoint_url=...)`): the body, `Content-Type` and
`Accept` go through the package's `pipelines/<package>/steps/inference.py`
(`model_fn` once, then `input_fn` -> `predict_fn` -> `output_fn` per request), with the
model loaded from ARTIFACT: a model directory written by the package's `steps/train.py`
(run it locally with `--train`, `--validation` and `--model-dir`) or a `model.tar.gz`,
e.g. a registered version's, copied from S3, extracted as the serving container does.

Answers look like SageMaker's: the model's body and content type on success; a model's
4xx/5xx becomes a 424 `ModelError` carrying `OriginalStatusCode` and `OriginalMessage`;
an unknown endpoint a 400 `ValidationError`.
Requests must be SigV4-signed (any credentials: signatures are not verified).

Bounded: one request at a time, bodies up to InvokeEndpoint's 6 MiB, a 10 s socket
timeout, and the server stops by itself after `--lifetime` seconds or `--max-requests`
requests. Then run the smoke test against it:

    make smoke ENV=staging ENDPOINT_URL=http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import re
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
MAX_BODY = 6 * 1024 * 1024
"""InvokeEndpoint's largest request body (bytes)."""
ACCOUNT = "000000000000"
JSON = "application/json"
_PATH = re.compile(r"^/endpoints/([^/?]+)/invocations$")


@dataclass(frozen=True)
class Reply:
    """What a served model answers: an HTTP status, a body and its content type."""

    status: int
    body: bytes
    content_type: str = JSON


Model = Callable[[bytes, str | None, str | None], Reply]
"""A served model: (body, content type, accept) -> Reply."""


@dataclass(frozen=True)
class Invocation:
    """One request the stand-in received (tests assert on these)."""

    endpoint_name: str
    content_type: str | None
    accept: str | None
    headers: dict[str, str]
    body: bytes


def load_inference(package: str, root: Path = ROOT) -> ModuleType:
    """`pipelines/<package>/steps/inference.py` as a module of its own (not a package import)."""
    path = root / "pipelines" / package / "steps" / "inference.py"
    if not path.is_file():
        raise FileNotFoundError(f"{package}: no inference code at {path}")
    name = f"_stand_in_inference_{package}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in the module look themselves up there
    spec.loader.exec_module(module)
    missing = [
        f for f in ("model_fn", "input_fn", "predict_fn", "output_fn") if not hasattr(module, f)
    ]
    if missing:
        raise AttributeError(f"{path} lacks {', '.join(missing)}")
    return module


def model_dir_of(artifact: Path, scratch: Path) -> Path:
    """A model directory: `artifact` itself, or `model.tar.gz` extracted under `scratch`."""
    if artifact.is_dir():
        return artifact
    target = Path(tempfile.mkdtemp(prefix="model-", dir=scratch))
    with tarfile.open(artifact) as tar:
        tar.extractall(target, filter="data")
    return target


def _reply(result: Any, accept: str | None) -> Reply:
    """The HTTP reply of whatever `output_fn` returned, as the serving stacks read it."""
    if hasattr(result, "status") and hasattr(result, "body"):  # a Response value
        body, status = result.body, int(result.status)
        content_type = getattr(result, "content_type", None) or JSON
    elif hasattr(result, "status_code") and hasattr(result, "get_data"):  # a Flask Response
        body, status, content_type = result.get_data(), result.status_code, result.mimetype
    elif isinstance(result, tuple):  # (body, content type), the toolkits' default encoders
        (body, content_type), status = result, 200
    else:
        body, status, content_type = result, 200, (accept or JSON)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return Reply(status=status, body=bytes(body), content_type=content_type)


class ServedModel:
    """A model answering with its package's inference handlers, as the serving container does."""

    def __init__(self, package: str, artifact: Path, scratch: Path, root: Path = ROOT) -> None:
        self.package = package
        self.inference = load_inference(package, root)
        self.model = self.inference.model_fn(str(model_dir_of(artifact, scratch)))

    def __call__(self, body: bytes, content_type: str | None, accept: str | None) -> Reply:
        handlers = self.inference
        data = handlers.input_fn(body, content_type)
        return _reply(handlers.output_fn(handlers.predict_fn(data, self.model), accept), accept)


def _error(status: int, code: str, message: str, **fields: Any) -> Reply:
    return Reply(status, json.dumps({"__type": code, "Message": message, **fields}).encode())


@dataclass
class StandIn:
    """The loopback server. Use as a context manager: `with StandIn({...}) as s: s.url`."""

    endpoints: Mapping[str, Model]
    """Endpoint name -> the model answering it."""
    port: int = 0
    """Port on 127.0.0.1. Default 0: any free port (see `url`)."""
    lifetime: float = 300.0
    """Seconds after which the server stops by itself. Default 300."""
    max_requests: int = 1000
    """Requests after which the server stops by itself. Default 1000."""
    log: Callable[[str], None] | None = None
    """Where to write one line per request. Default nowhere."""
    invocations: list[Invocation] = field(default_factory=list)
    """Every InvokeEndpoint request received, in order."""
    answered: int = 0
    """HTTP requests answered so far (any route or outcome): what max_requests bounds."""

    def __post_init__(self) -> None:
        self._server = HTTPServer((HOST, self.port), _handler(self))
        self._server.timeout = 0.05  # how often the loop checks its bounds when idle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint URL to give botocore (`endpoint_url=`)."""
        return f"http://{HOST}:{self._server.server_address[1]}"

    def serve(self) -> None:
        """Answer requests until stopped, the lifetime is over or max_requests are served."""
        deadline = time.monotonic() + self.lifetime
        try:
            while (
                not self._stop.is_set()
                and time.monotonic() < deadline
                and self.answered < self.max_requests
            ):
                self._server.handle_request()
        finally:
            self._server.server_close()

    def start(self) -> StandIn:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve, name="stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def invoke(self, invocation: Invocation) -> Reply:
        """SageMaker Runtime's answer to one request."""
        model = self.endpoints.get(invocation.endpoint_name)
        if model is None:
            return _error(
                400,
                "ValidationError",
                f"Endpoint {invocation.endpoint_name} of account {ACCOUNT} not found.",
            )
        try:
            reply = model(invocation.body, invocation.content_type, invocation.accept)
        except Exception as error:  # the container answers 500, SageMaker a ModelError
            reply = Reply(500, f"{type(error).__name__}: {error}".encode(), "text/plain")
        if reply.status < 400:
            return reply
        kind = "client" if reply.status < 500 else "server"
        original = reply.body.decode("utf-8", "replace")
        return _error(
            424,
            "ModelError",
            f"Received {kind} error ({reply.status}) from primary with message"
            f' "{original}". See the stand-in\'s output for more information.',
            OriginalStatusCode=reply.status,
            OriginalMessage=original,
            LogStreamArn=f"arn:aws:logs:local:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/"
            f"{invocation.endpoint_name}",
        )


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # seconds a client may stall a read
        server_version = "stand-in"

        def do_POST(self) -> None:
            match = _PATH.match(self.path)
            if match is None:
                return self._send(_error(404, "UnknownOperationException", f"no route {self.path}"))
            if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
                return self._send(
                    _error(
                        403, "MissingAuthenticationTokenException", "Missing Authentication Token"
                    )
                )
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                return self._send(
                    _error(
                        400, "ValidationError", f"Request body of {length} bytes exceeds {MAX_BODY}"
                    )
                )
            invocation = Invocation(
                endpoint_name=unquote(match.group(1)),
                content_type=self.headers.get("Content-Type"),
                accept=self.headers.get("Accept"),
                headers=dict(self.headers.items()),
                body=self.rfile.read(length),
            )
            stand_in.invocations.append(invocation)
            reply = stand_in.invoke(invocation)
            if stand_in.log is not None:
                stand_in.log(f"{invocation.endpoint_name}: {reply.status}")
            self._send(reply, variant=reply.status < 400)

        def do_GET(self) -> None:
            self._send(_error(404, "UnknownOperationException", f"no route {self.path}"))

        def _send(self, reply: Reply, variant: bool = False) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("x-amzn-RequestId", f"stand-in-{len(stand_in.invocations)}")
            if reply.status >= 400:
                self.send_header("x-amzn-ErrorType", json.loads(reply.body)["__type"])
            if variant:
                self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
            self.send_header("Connection", "close")  # one request per connection: bounded
            self.end_headers()
            self.wfile.write(reply.body)
            self.close_connection = True
            stand_in.answered += 1

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: `StandIn.log` reports requests."""

    return Handler


def _endpoint(value: str) -> tuple[str, str, Path]:
    name, _, rest = value.partition("=")
    package, _, artifact = rest.partition(":")
    if not (name and package and artifact):
        raise argparse.ArgumentTypeError(f"got {value!r}; expected NAME=PACKAGE:ARTIFACT")
    return name, package, Path(artifact)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the endpoints given on the command line until a bound is reached."""
    parser = argparse.ArgumentParser(prog="stand_in", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--endpoint",
        type=_endpoint,
        action="append",
        required=True,
        metavar="NAME=PACKAGE:ARTIFACT",
        help="serve endpoint NAME with pipelines/PACKAGE's inference code and the model "
        "directory or model.tar.gz ARTIFACT (repeatable)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    parser.add_argument("--lifetime", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--max-requests", type=int, default=1000, help="(default 1000)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:  # the inference code imports nothing from the repository,
        sys.path.insert(0, str(ROOT))  # but a package's may
    with tempfile.TemporaryDirectory(prefix="stand-in-") as scratch:
        try:
            endpoints = {
                name: ServedModel(package, artifact, Path(scratch))
                for name, package, artifact in args.endpoint
            }
        except (OSError, AttributeError, tarfile.TarError) as error:
            print(f"stand_in: {error}", file=sys.stderr)
            return 1
        server = StandIn(
            endpoints,
            port=args.port,
            lifetime=args.lifetime,
            max_requests=args.max_requests,
            log=lambda line: print(line, flush=True),
        )
        print(f"stand-in for {', '.join(endpoints)} at {server.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
