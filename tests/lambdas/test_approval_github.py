"""The GitHub client against the local fake: headers, retries, time limit, errors."""

from __future__ import annotations

import email.utils
import socket

import pytest
from approval_support import (
    EPOCH,
    MANIFEST_PATH,
    MANIFEST_TEXT,
    REPOSITORY,
    TOKEN,
    FakeClock,
    FakeGitHub,
)

from lambdas.approval.github import (
    GitHubClient,
    GitHubError,
    GitHubRateLimitedError,
    GitHubUnavailableError,
    Response,
)


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


def test_bare_429_waits_at_least_a_minute(github: FakeGitHub, sleeps: list[float]) -> None:
    github.fail("GET", "/pulls", status=429, times=1, message="Too many requests")
    assert client(github.url, sleeps).find_open_pull("promote/x", "main") is None
    assert sleeps == [60.0]


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
        clock=clock.time,
    )


def test_retry_after_seconds_replace_the_backoff(github: FakeGitHub) -> None:
    github.fail("GET", "/git/ref/heads/main", status=503, times=2, headers={"Retry-After": "3"})
    clock = FakeClock(limit=60.0)
    assert timed_client(github.url, clock).branch_sha("main") == github.branches["main"]
    assert clock.sleeps == [3.0, 3.0]


def test_retry_after_beyond_the_time_left_gives_up_without_waiting(github: FakeGitHub) -> None:
    github.fail("GET", "/pulls", status=429, headers={"Retry-After": "60"}, message="Slow down")
    clock = FakeClock(limit=60.0)
    with pytest.raises(GitHubRateLimitedError, match=r"HTTP 429 Slow down \(secondary rate") as e:
        timed_client(github.url, clock).find_open_pull("promote/x", "main")
    assert e.value.retry_after_epoch == EPOCH + 60
    assert clock.sleeps == [] and len(github.requests) == 1


# -- GitHub's documented rate limits (answers shaped like its REST API's) ----------------


def test_primary_limit_far_away_gives_up_at_once_with_the_reset_time(github: FakeGitHub) -> None:
    reset = EPOCH + 30 * 60
    github.primary_rate_limit("GET", "/git/ref/heads/main", reset=reset)
    clock = FakeClock(limit=85.0)
    with pytest.raises(GitHubRateLimitedError) as caught:
        timed_client(github.url, clock).branch_sha("main")
    error = caught.value
    assert error.category == "github-rate-limited" and error.status == 403
    assert reset <= error.retry_after_epoch <= reset + 2
    assert error.attributes == {"retry_after_epoch": str(error.retry_after_epoch)}
    assert "HTTP 403 API rate limit exceeded for user ID 1234567. (primary rate limit)" in str(
        error
    )
    assert f"(epoch {error.retry_after_epoch})" in str(error) and "replay the event" in str(error)
    assert len(github.requests) == 1 and clock.sleeps == []  # no retry burnt


@pytest.mark.parametrize("status", [403, 429])
def test_primary_limit_resetting_soon_waits_for_the_reset(github: FakeGitHub, status: int) -> None:
    github.primary_rate_limit("GET", "/git/ref/heads/main", reset=EPOCH + 2, status=status, times=1)
    clock = FakeClock(limit=60.0)
    assert timed_client(github.url, clock).branch_sha("main") == github.branches["main"]
    (wait,) = clock.sleeps
    assert 2.0 <= wait <= 3.0  # until the reset (plus a second: whole seconds, other clocks)
    assert len(github.requests) == 2


def test_primary_limit_already_reset_retries_after_a_second(github: FakeGitHub) -> None:
    github.primary_rate_limit("GET", "/pulls", reset=EPOCH - 5, times=1)
    clock = FakeClock(limit=60.0)
    assert timed_client(github.url, clock).find_open_pull("promote/x", "main") is None
    assert clock.sleeps == [1.0]


def test_secondary_limit_without_retry_after_waits_a_minute(github: FakeGitHub) -> None:
    github.secondary_rate_limit("POST", "/pulls", times=1)
    clock = FakeClock(limit=85.0)
    gh = timed_client(github.url, clock)
    gh.create_branch("promote/a", gh.branch_sha("main"))
    github.files[("promote/a", MANIFEST_PATH)] = "changed\n"
    assert gh.create_pull(head="promote/a", base="main", title="t", body="b").number == 1
    assert clock.sleeps == [60.0]


def test_repeated_secondary_limits_wait_exponentially_longer(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    github.secondary_rate_limit("GET", "/pulls", status=429, times=3)
    assert client(github.url, sleeps).find_open_pull("promote/x", "main") is None
    assert sleeps == [60.0, 120.0, 240.0]


def test_secondary_limit_without_retry_after_and_too_little_time_gives_up(
    github: FakeGitHub,
) -> None:
    github.secondary_rate_limit("GET", "/pulls")
    clock = FakeClock(limit=40.0)
    with pytest.raises(GitHubRateLimitedError, match="secondary rate limit") as caught:
        timed_client(github.url, clock).find_open_pull("promote/x", "main")
    assert caught.value.retry_after_epoch == EPOCH + 60
    assert "60 s away: the wait and another attempt (70 s) do not fit in the 35 s" in str(
        caught.value
    )
    assert len(github.requests) == 1 and clock.sleeps == []


def test_secondary_limit_with_retry_after_waits_that_long(github: FakeGitHub) -> None:
    github.secondary_rate_limit("GET", "/git/ref/heads/main", retry_after=5, times=1)
    clock = FakeClock(limit=60.0)
    assert timed_client(github.url, clock).branch_sha("main") == github.branches["main"]
    assert clock.sleeps == [5.0]


def test_rate_limited_on_every_attempt_reports_when_to_replay(
    github: FakeGitHub, sleeps: list[float]
) -> None:
    github.secondary_rate_limit("GET", "/pulls", retry_after=5)
    gh = GitHubClient(
        repository=REPOSITORY,
        token=TOKEN,
        api_url=github.url,
        sleep=sleeps.append,
        clock=lambda: EPOCH,
    )
    with pytest.raises(GitHubRateLimitedError, match="still limited after 4 attempts") as caught:
        gh.find_open_pull("promote/x", "main")
    assert caught.value.retry_after_epoch == EPOCH + 5
    assert sleeps == [5.0, 5.0, 5.0] and len(github.requests) == 4


def test_retry_after_may_be_an_http_date_counted_from_the_injected_clock() -> None:
    response = Response(429, None, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert response.retry_after() == 0.0  # long past by the wall clock
    at = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:27:30 GMT").timestamp()
    assert response.retry_after(lambda: at) == 30.0  # 30 s before it by the given clock
    assert Response(429, None, {"retry-after": "soon"}).retry_after() is None


@pytest.mark.parametrize(
    ("status", "headers", "message", "kind"),
    [
        (403, {"x-ratelimit-remaining": "0"}, "", "primary"),
        (429, {"x-ratelimit-remaining": "0", "retry-after": "3"}, "", "primary"),
        (403, {"retry-after": "3"}, "", "secondary"),
        (403, {}, "You have exceeded a secondary rate limit.", "secondary"),
        (429, {}, "", "secondary"),
        (403, {"x-ratelimit-remaining": "12"}, "Resource not accessible by integration", None),
        (500, {"x-ratelimit-remaining": "0"}, "", None),
    ],
)
def test_rate_limit_kind(status: int, headers: dict[str, str], message: str, kind: str) -> None:
    assert Response(status, {"message": message}, headers).rate_limit == kind


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
