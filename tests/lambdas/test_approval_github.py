"""The GitHub client against the local fake: headers, retries, time limit, errors."""

from __future__ import annotations

import socket

import pytest
from approval_support import (
    MANIFEST_PATH,
    MANIFEST_TEXT,
    REPOSITORY,
    TOKEN,
    FakeClock,
    FakeGitHub,
)

from lambdas.approval.github import GitHubClient, GitHubError, GitHubUnavailableError, Response


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


def timed_client(url: str, clock: FakeClock) -> GitHubClient:
    return GitHubClient(
        repository=REPOSITORY,
        token=TOKEN,
        api_url=url,
        sleep=clock.sleep,
        remaining_seconds=clock.remaining,
    )


def test_retry_after_seconds_replace_the_backoff(github: FakeGitHub) -> None:
    github.fail("GET", "/git/ref/heads/main", status=503, times=2, headers={"Retry-After": "3"})
    clock = FakeClock(limit=60.0)
    assert timed_client(github.url, clock).branch_sha("main") == github.branches["main"]
    assert clock.sleeps == [3.0, 3.0]


def test_retry_after_beyond_the_time_left_gives_up_without_waiting(github: FakeGitHub) -> None:
    github.fail("GET", "/pulls", status=429, headers={"Retry-After": "60"}, message="Slow down")
    clock = FakeClock(limit=60.0)
    with pytest.raises(GitHubUnavailableError, match=r"HTTP 429 Slow down.*after 1 attempts"):
        timed_client(github.url, clock).find_open_pull("promote/x", "main")
    assert clock.sleeps == [] and len(github.requests) == 1


def test_secondary_rate_limit_403_is_retried(github: FakeGitHub, sleeps: list[float]) -> None:
    github.fail(
        "POST", "/pulls", status=403, times=1, message="You have exceeded a secondary rate limit"
    )
    gh = client(github.url, sleeps)
    gh.create_branch("promote/a", gh.branch_sha("main"))
    github.files[("promote/a", MANIFEST_PATH)] = "changed\n"
    assert gh.create_pull(head="promote/a", base="main", title="t", body="b").number == 1
    assert sleeps == [1.0]


def test_other_403_is_not_retried(github: FakeGitHub, sleeps: list[float]) -> None:
    github.fail("GET", "/pulls", status=403, message="Resource not accessible by integration")
    with pytest.raises(GitHubError, match="HTTP 403 Resource not accessible") as caught:
        client(github.url, sleeps).find_open_pull("promote/x", "main")
    assert not isinstance(caught.value, GitHubUnavailableError) and sleeps == []


def test_put_conflict_409_is_false_but_422_is_an_error(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    gh = client(github.url, sleeps)
    kwargs = {"branch": "main", "text": "x\n", "message": "m"}
    assert gh.put_file(MANIFEST_PATH, sha="0" * 40, **kwargs) is False  # stale blob: 409
    github.fail("PUT", "/contents/", status=422, times=1, message="Invalid request")
    with pytest.raises(GitHubError, match="HTTP 422 Invalid request") as caught:
        gh.put_file(MANIFEST_PATH, sha=FakeGitHub.blob(MANIFEST_TEXT), **kwargs)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"message": "Validation Failed", "errors": ["head is invalid"]},
            "Validation Failed; head is invalid",
        ),
        (
            {"message": "Validation Failed", "errors": [{"message": "exists"}, {"code": "x"}]},
            "Validation Failed; exists; {'code': 'x'}",
        ),
        ({"message": "Bad", "errors": "not a list"}, "Bad"),
        ({"errors": [None, "only this"]}, "only this"),
        (["not", "a", "dict"], ""),
        (None, ""),
    ],
)
def test_error_message_accepts_string_and_dict_details(body: object, message: str) -> None:
    assert Response(422, body).message == message
