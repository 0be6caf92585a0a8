"""A small GitHub REST client: the calls a promotion pull request needs, nothing more.

Standard library only (urllib). Server errors (5xx), rate limiting (429, and 403 whose
message says rate limit) and connection failures are retried with exponential backoff,
or after the `Retry-After` seconds GitHub asks for. Retries stop early when the next
attempt (its wait plus the request timeout) would not finish within the time left
(`remaining_seconds`, fed from the Lambda context) minus a safety margin, so the
function gives up cleanly instead of being killed by the Lambda timeout. `sleep` and
`remaining_seconds` are injectable so tests neither wait nor depend on the clock. When
the attempts or the time run out, `GitHubUnavailableError` says which call failed and how.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .errors import PromotionFailed

API_VERSION = "2022-11-28"
USER_AGENT = "sagemaker-mlops-approval-lambda"
SAFETY_MARGIN_SECONDS = 5.0  # left for dead-lettering after GitHub gives up


class GitHubError(PromotionFailed):
    """GitHub answered with an error that retrying will not fix (4xx)."""

    category = "github-error"

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class GitHubUnavailableError(GitHubError):
    """GitHub kept failing (5xx, 429 or no connection) after every attempt."""

    category = "github-unavailable"


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
    def retryable(self) -> bool:
        """5xx, 429, or a 403 that reports a rate limit (GitHub's secondary limits)."""
        if self.status >= 500 or self.status == 429:
            return True
        return self.status == 403 and "rate limit" in self.message.lower()

    @property
    def retry_after(self) -> float | None:
        """The `Retry-After` delay in seconds, when given as a number."""
        try:
            value = float(self.headers.get("retry-after", ""))
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

    # -- transport -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one call, retrying 5xx, 429, rate-limit 403 and connection errors.

        Any other answer is returned. Raises `GitHubUnavailableError` when the attempts
        run out or the next attempt would not fit in the remaining time.
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
        failure = "no attempt made"
        wait = 0.0
        for attempt in range(1, self._max_attempts + 1):
            available = self._remaining() - self._margin
            if wait + self._timeout > available:
                raise GitHubUnavailableError(
                    f"GitHub {method} {path}: {failure} (gave up after {attempt - 1} attempts:"
                    f" another would need {wait + self._timeout:.0f} s, only"
                    f" {max(available, 0):.0f} s of the time limit are left)"
                )
            if wait:
                self._sleep(wait)
            response, failure = self._send(method, url, data, headers)
            if response is None:
                wait = self._backoff * 2 ** (attempt - 1)
                continue
            if not response.retryable:
                return response
            failure = f"HTTP {response.status} {response.message}".strip()
            retry_after = response.retry_after
            wait = self._backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
        raise GitHubUnavailableError(
            f"GitHub {method} {path}: {failure} (gave up after {self._max_attempts} attempts)"
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
