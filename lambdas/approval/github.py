"""A small GitHub REST client: the calls a promotion pull request needs, nothing more.

Standard library only (urllib). Retries follow GitHub's documented rules ("Rate limits
for the REST API", "Best practices for using the REST API"):

- Primary rate limit (403 or 429 with `x-ratelimit-remaining: 0`): no request before
  `x-ratelimit-reset` (UTC epoch seconds), so the wait is the time until then.
- Secondary rate limit (403 or 429 with `retry-after`, or whose message says rate limit):
  wait `retry-after` seconds; without it at least one minute, doubling on each repeat.
- Server errors (5xx) and connection failures: exponential backoff (1, 2, 4 s), or the
  `retry-after` seconds when given.

A wait is taken only when it and the next attempt (request timeout) fit in the time
left (`remaining_seconds`, fed from the Lambda context) minus a safety margin; otherwise
no retry is burnt: a rate limit raises `GitHubRateLimitedError` carrying the epoch time
after which the call may be made again (the event is dead-lettered with it, to be
replayed then), anything else `GitHubUnavailableError`. `sleep`, `remaining_seconds`
and `clock` (wall time, for the reset) are injectable so tests neither wait nor depend
on the clock.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from .errors import PromotionFailed

API_VERSION = "2022-11-28"
USER_AGENT = "sagemaker-mlops-approval-lambda"
SAFETY_MARGIN_SECONDS = 5.0  # left for dead-lettering after GitHub gives up
SECONDARY_WAIT_SECONDS = 60.0  # GitHub: "wait for at least one minute" without retry-after
RESET_PAD_SECONDS = 1.0  # the reset is in whole seconds and clocks differ: retry just after it

RateLimit = Literal["primary", "secondary"]


class GitHubError(PromotionFailed):
    """GitHub answered with an error that retrying will not fix (4xx)."""

    category = "github-error"

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class GitHubUnavailableError(GitHubError):
    """GitHub kept failing (5xx or no connection) after every attempt or the time left."""

    category = "github-unavailable"


class GitHubRateLimitedError(GitHubUnavailableError):
    """GitHub's rate limit asks for a wait that does not fit in this invocation.

    `retry_after_epoch` (UTC epoch seconds) is when the call may be made again; it goes
    with the dead-lettered event (message attribute `retry_after_epoch`) so an operator or
    a redrive replays the event after that time.
    """

    category = "github-rate-limited"

    def __init__(self, reason: str, status: int | None, retry_after_epoch: int) -> None:
        super().__init__(reason, status)
        self.retry_after_epoch = retry_after_epoch

    @property
    def attributes(self) -> dict[str, str]:
        return {"retry_after_epoch": str(self.retry_after_epoch)}


@dataclass(frozen=True)
class Response:
    """Status code, decoded JSON body (None when empty or not JSON), lower-cased headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """GitHub's error message and its `errors` details (dicts or plain strings)."""
        if not isinstance(self.body, dict):
            return ""
        errors = self.body.get("errors")
        details = [
            str(e.get("message", e)) if isinstance(e, dict) else str(e)
            for e in (errors if isinstance(errors, list) else [])
            if e
        ]
        return "; ".join([str(self.body.get("message") or ""), *details]).strip("; ")

    @property
    def rate_limit(self) -> RateLimit | None:
        """Which of GitHub's rate limits this answer reports, if any.

        Primary: 403 or 429 with `x-ratelimit-remaining: 0`. Secondary: any other 429,
        or a 403 with `retry-after` or a message that mentions a rate limit.
        """
        if self.status not in (403, 429):
            return None
        if self.headers.get("x-ratelimit-remaining", "").strip() == "0":
            return "primary"
        if self.status == 429 or "retry-after" in self.headers:
            return "secondary"
        return "secondary" if "rate limit" in self.message.lower() else None

    @property
    def retryable(self) -> bool:
        """5xx, or a rate limit (once its wait is over)."""
        return self.status >= 500 or self.rate_limit is not None

    def retry_after(self, now: Callable[[], float] = time.time) -> float | None:
        """The `retry-after` delay in seconds (a number, or an HTTP date, counted from
        `now()`), when given."""
        raw = self.headers.get("retry-after", "").strip()
        try:
            value = float(raw)
        except ValueError:
            try:
                value = email.utils.parsedate_to_datetime(raw).timestamp() - now()
            except (TypeError, ValueError, IndexError):
                return None
            value = max(value, 0.0)
        return value if math.isfinite(value) and value >= 0 else None

    @property
    def reset_epoch(self) -> float | None:
        """`x-ratelimit-reset`: when the primary rate limit window resets (epoch seconds)."""
        try:
            value = float(self.headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return None
        return value if math.isfinite(value) and value >= 0 else None


@dataclass(frozen=True)
class PullRequest:
    """The fields of a pull request this function reports."""

    number: int
    url: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PullRequest:
        return cls(number=int(data["number"]), url=str(data["html_url"]))


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class GitHubClient:
    """Calls one repository's REST API with a token."""

    def __init__(
        self,
        *,
        repository: str,
        token: str,
        api_url: str = "https://api.github.com",
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 4,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        remaining_seconds: Callable[[], float] | None = None,
        safety_margin_seconds: float = SAFETY_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._remaining = remaining_seconds or (lambda: math.inf)
        self._margin = safety_margin_seconds
        self._clock = clock

    # -- transport -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one call, retrying 5xx, rate limits and connection errors (see module doc).

        Any other answer is returned. Raises `GitHubRateLimitedError` when a rate limit's
        wait does not fit in the time left (or the attempts run out while rate limited),
        `GitHubUnavailableError` when the attempts or the time run out otherwise.
        """
        url = f"{self._api_url}{path}" + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self._token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        call = f"GitHub {method} {path}"
        failure = "no attempt made"
        wait = 0.0
        limited: Response | None = None  # the last answer, when it was a rate limit
        secondary_repeats = 0
        for attempt in range(1, self._max_attempts + 1):
            available = self._remaining() - self._margin
            if wait + self._timeout > available:
                left = max(available, 0)
                if limited is not None:
                    raise self._rate_limited(
                        call,
                        failure,
                        limited,
                        wait,
                        f"{wait:.0f} s away: the wait and another attempt"
                        f" ({wait + self._timeout:.0f} s) do not fit in the {left:.0f} s"
                        " this invocation has left",
                    )
                raise GitHubUnavailableError(
                    f"{call}: {failure} (gave up after {attempt - 1} attempts:"
                    f" another would need {wait + self._timeout:.0f} s, only"
                    f" {left:.0f} s of the time limit are left)"
                )
            if wait:
                self._sleep(wait)
            response, failure = self._send(method, url, data, headers)
            limited = None
            if response is None:
                wait = self._backoff * 2 ** (attempt - 1)
                continue
            if not response.retryable:
                return response
            failure = f"HTTP {response.status} {response.message}".strip()
            if response.rate_limit is None:  # 5xx
                retry_after = response.retry_after(self._clock)
                wait = self._backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
                continue
            limited = response
            wait = self._rate_limit_wait(response, secondary_repeats)
            if response.rate_limit == "secondary" and response.retry_after(self._clock) is None:
                secondary_repeats += 1
        if limited is not None:
            raise self._rate_limited(
                call, failure, limited, wait, f"still limited after {self._max_attempts} attempts"
            )
        raise GitHubUnavailableError(
            f"{call}: {failure} (gave up after {self._max_attempts} attempts)"
        )

    def _rate_limit_wait(self, response: Response, secondary_repeats: int) -> float:
        """Seconds GitHub asks this client to wait before calling again."""
        waits = []
        retry_after = response.retry_after(self._clock)
        if retry_after is not None:
            waits.append(retry_after)
        reset = response.reset_epoch
        if response.rate_limit == "primary" and reset is not None:
            waits.append(max(reset - self._clock(), 0.0) + RESET_PAD_SECONDS)
        if not waits:  # no retry-after, no reset: at least a minute, doubling on repeats
            waits.append(SECONDARY_WAIT_SECONDS * 2**secondary_repeats)
        return max(waits)

    def _rate_limited(
        self, call: str, failure: str, response: Response, wait: float, why: str
    ) -> GitHubRateLimitedError:
        retry_at = math.ceil(self._clock() + wait)
        return GitHubRateLimitedError(
            f"{call}: {failure} ({response.rate_limit} rate limit); GitHub allows the call again"
            f" at {_utc(retry_at)} (epoch {retry_at}), {why}: replay the event after that time",
            response.status,
            retry_at,
        )

    def _send(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[Response | None, str]:
        """One HTTP exchange: the response, or None and why the connection failed."""
        # The scheme is checked when the settings load: https, or http to localhost.
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310
                return Response(resp.status, _decode(resp.read()), _headers(resp.headers)), ""
        except urllib.error.HTTPError as exc:
            return Response(exc.code, _decode(exc.read()), _headers(exc.headers)), ""
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            return None, f"connection failed: {getattr(exc, 'reason', exc)}"

    def _fail(self, what: str, response: Response) -> GitHubError:
        return GitHubError(
            f"GitHub {what} in {self.repository}: HTTP {response.status}"
            f" {response.message}".strip(),
            response.status,
        )

    # -- operations ------------------------------------------------------------------

    def branch_sha(self, branch: str) -> str:
        """The commit SHA the branch points at."""
        response = self.request("GET", f"/repos/{self.repository}/git/ref/heads/{quote(branch)}")
        if response.status != 200:
            raise self._fail(f"reading branch {branch!r}", response)
        return str(response.body["object"]["sha"])

    def create_branch(self, branch: str, sha: str) -> bool:
        """Create `branch` at `sha`; False when it already exists (a retried event)."""
        response = self.request(
            "POST",
            f"/repos/{self.repository}/git/refs",
            body={"ref": f"refs/heads/{branch}", "sha": sha},
        )
        if response.status == 201:
            return True
        if response.status == 422 and "already exists" in response.message.lower():
            return False
        raise self._fail(f"creating branch {branch!r}", response)

    def get_file(self, path: str, ref: str) -> tuple[str, str]:
        """The file's text and blob SHA at `ref`."""
        response = self.request(
            "GET", f"/repos/{self.repository}/contents/{quote(path)}", query={"ref": ref}
        )
        if response.status != 200 or not isinstance(response.body, dict):
            raise self._fail(f"reading {path} at {ref!r}", response)
        content = base64.b64decode(response.body.get("content", "")).decode("utf-8")
        return content, str(response.body["sha"])

    def put_file(self, path: str, *, branch: str, text: str, sha: str, message: str) -> bool:
        """Commit `text` as `path` on `branch` over blob `sha`; False on a SHA conflict.

        GitHub answers 409 when `sha` is not the file's current blob; anything else
        (422: invalid request) is an error.
        """
        response = self.request(
            "PUT",
            f"/repos/{self.repository}/contents/{quote(path)}",
            body={
                "message": message,
                "content": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                "sha": sha,
                "branch": branch,
            },
        )
        if response.status in (200, 201):
            return True
        if response.status == 409:
            return False
        raise self._fail(f"updating {path} on {branch!r}", response)

    def find_open_pull(self, head: str, base: str) -> PullRequest | None:
        """The open pull request from branch `head` into `base`, if there is one."""
        response = self.request(
            "GET",
            f"/repos/{self.repository}/pulls",
            query={"head": f"{self.owner}:{head}", "base": base, "state": "open"},
        )
        if response.status != 200 or not isinstance(response.body, list):
            raise self._fail(f"listing pull requests from {head!r}", response)
        return PullRequest.from_api(response.body[0]) if response.body else None

    def create_pull(self, *, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request; return the existing one if GitHub says it already exists."""
        response = self.request(
            "POST",
            f"/repos/{self.repository}/pulls",
            body={"title": title, "head": head, "base": base, "body": body},
        )
        if response.status == 201:
            return PullRequest.from_api(response.body)
        if response.status == 422 and "already exists" in response.message.lower():
            existing = self.find_open_pull(head, base)
            if existing is not None:
                return existing
        raise self._fail(f"opening a pull request from {head!r}", response)


def _headers(message: Any) -> dict[str, str]:
    """Response headers with lower-cased names (empty when there are none)."""
    return {str(k).lower(): str(v) for k, v in (message.items() if message else [])}


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
