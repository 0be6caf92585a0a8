"""The GitHub client against the local fake: headers, retries with backoff, errors."""

from __future__ import annotations

import socket

import pytest
from approval_support import MANIFEST_PATH, MANIFEST_TEXT, REPOSITORY, TOKEN, FakeGitHub

from lambdas.approval.github import GitHubClient, GitHubError, GitHubUnavailableError


def client(url: str, sleeps: list[float], token: str = TOKEN) -> GitHubClient:
    return GitHubClient(repository=REPOSITORY, token=token, api_url=url, sleep=sleeps.append)


def test_every_request_carries_token_and_api_headers(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    gh = client(github.url, sleeps)
    assert gh.get_file(MANIFEST_PATH, "main") == (MANIFEST_TEXT, FakeGitHub.blob(MANIFEST_TEXT))
    (request,) = github.requests
    assert (request.method, request.path, request.query) == (
        "GET",
        f"/repos/{REPOSITORY}/contents/{MANIFEST_PATH}",
        {"ref": "main"},
    )
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["user-agent"]


def test_server_errors_are_retried_with_exponential_backoff(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    github.fail("GET", "/git/ref/heads/main", status=503, times=2)
    assert client(github.url, sleeps).branch_sha("main") == github.branches["main"]
    assert len(github.calls("GET", "/git/ref/")) == 3
    assert sleeps == [1.0, 2.0]


def test_gives_up_after_the_last_attempt(github: FakeGitHub, sleeps: list[float]) -> None:
    github.fail("GET", "/git/ref/heads/main", status=502)
    with pytest.raises(GitHubUnavailableError, match=r"HTTP 502 Bad.*after 4 attempts"):
        client(github.url, sleeps).branch_sha("main")
    assert len(github.calls("GET")) == 4
    assert sleeps == [1.0, 2.0, 4.0]


def test_rate_limiting_is_retried(github: FakeGitHub, sleeps: list[float]) -> None:
    github.fail("GET", "/pulls", status=429, times=1, message="API rate limit exceeded")
    assert client(github.url, sleeps).find_open_pull("promote/x", "main") is None
    assert sleeps == [1.0]


def test_connection_errors_are_retried(sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GitHubUnavailableError, match="connection failed"):
        client(f"http://127.0.0.1:{port}", sleeps).branch_sha("main")
    assert sleeps == [1.0, 2.0, 4.0]


def test_client_errors_are_not_retried(github: FakeGitHub, sleeps: list[float]) -> None:
    with pytest.raises(GitHubError, match="HTTP 401 Bad credentials") as caught:
        client(github.url, sleeps, token="wrong").branch_sha("main")
    assert caught.value.status == 401 and not isinstance(caught.value, GitHubUnavailableError)
    assert len(github.requests) == 1 and sleeps == []


def test_missing_file_is_an_error_naming_it(github: FakeGitHub, sleeps: list[float]) -> None:
    with pytest.raises(GitHubError, match=r"reading deploy/pins.yaml at 'main'.*HTTP 404"):
        client(github.url, sleeps).get_file("deploy/pins.yaml", "main")


def test_existing_branch_is_reported_not_raised(github: FakeGitHub, sleeps: list[float]) -> None:
    gh = client(github.url, sleeps)
    sha = gh.branch_sha("main")
    assert gh.create_branch("promote/a", sha) is True
    assert gh.create_branch("promote/a", sha) is False
    assert github.calls("POST", "/git/refs")[0].body == {"ref": "refs/heads/promote/a", "sha": sha}
