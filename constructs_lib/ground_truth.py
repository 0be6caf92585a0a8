"""Ground-truth labels in the format Model Monitor's merge job reads.

`ModelQualityMonitor` and `ModelBiasMonitor` merge the endpoint's captured predictions
with labels you upload. What SageMaker documents
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html):

- one JSON object per record, in JSON Lines (`.jsonl`) files:
  `{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId":
  "aaaa-bbbb-cccc"}, "eventVersion": "0"}`;
- `eventId` is the `InferenceId` the caller gave `InvokeEndpoint` (Model Monitor
  merges on it when the captured record has one) or else the `eventId` SageMaker
  generated in the captured record;
- files go under `s3://<bucket>/<prefix>/yyyy/mm/dd/hh/`, the date and hour being when
  the labels were collected (not when the inference happened).

Pure Python (no aws-cdk import), so a labelling job or a Lambda can import it cheaply.
`InvokeEndpoint` limits `InferenceId` to 1-64 printable characters
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).

    body = to_jsonl(records([("req-1", 1), ("req-2", 0)]))
    for key, body in s3_objects(pairs, prefix="ground-truth/churn-prod/"):
        s3.put_object(Bucket=bucket, Key=key, Body=body)

Command line (a CSV of `inference_id,label` rows, header optional)::

    python -m constructs_lib.ground_truth --labels labels.csv \\
        --prefix s3://bucket/ground-truth/churn-prod/ --out dir
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from constructs_lib.errors import ConfigurationError

EVENT_VERSION = "0"
ENCODING = "CSV"
_INFERENCE_ID = re.compile(r"^\S[\x20-\x7e]{0,63}$")
_S3_PREFIX = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<prefix>.*)$")
Label = str | int | float


def _fail(owner: str, prop: str, got: Any, allowed: str) -> ConfigurationError:
    kind = type(got).__name__
    article = "an" if kind[0] in "aeiou" else "a"
    shown = repr(got) if isinstance(got, str) else f"{article} {kind} {got!r}"
    return ConfigurationError(f"{owner} {prop}: got {shown}; allowed {allowed}")


def record(inference_id: str, label: Label) -> dict[str, Any]:
    """One ground-truth record: `label` for the inference `inference_id`."""
    if not isinstance(inference_id, str) or not _INFERENCE_ID.match(inference_id):
        raise _fail(
            "ground_truth.record",
            "inference_id",
            inference_id,
            "the InferenceId (or captured eventId): 1-64 printable ASCII characters, not"
            " starting with a space",
        )
    if isinstance(label, bool) or not isinstance(label, str | int | float):
        raise _fail("ground_truth.record", "label", label, "a str, int or float label")
    data = str(label)
    if not data or any(c in data for c in "\r\n,"):
        raise _fail(
            "ground_truth.record",
            "label",
            label,
            "one CSV value: not empty, no comma or line break",
        )
    return {
        "groundTruthData": {"data": data, "encoding": ENCODING},
        "eventMetadata": {"eventId": inference_id},
        "eventVersion": EVENT_VERSION,
    }


def records(pairs: Iterable[tuple[str, Label]]) -> list[dict[str, Any]]:
    """Records for `(inference_id, label)` pairs, in order; a repeated id is refused
    (the merge would count that inference twice)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for inference_id, label in pairs:
        if inference_id in seen:
            raise _fail("ground_truth.records", "inference_id", inference_id, "each id once")
        seen.add(inference_id)
        out.append(record(inference_id, label))
    return out


def to_jsonl(rows: Sequence[dict[str, Any]]) -> str:
    """JSON Lines: one compact JSON object per line, each line ending with a newline."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)


def hour_folder(collected_at: datetime) -> str:
    """`yyyy/mm/dd/hh/` of `collected_at` in UTC (a naive time is taken as UTC)."""
    if not isinstance(collected_at, datetime):
        raise _fail("ground_truth", "collected_at", collected_at, "a datetime")
    at = collected_at if collected_at.tzinfo else collected_at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y/%m/%d/%H/")


def _check_prefix(prefix: str) -> None:
    if (
        not isinstance(prefix, str)
        or (prefix and not prefix.endswith("/"))
        or prefix.startswith("/")
        or "//" in prefix
    ):
        raise _fail(
            "ground_truth",
            "prefix",
            prefix,
            "the monitor's ground_truth_prefix: a key prefix ending with '/'",
        )


def s3_objects(
    pairs: Iterable[tuple[str, Label]],
    *,
    prefix: str,
    collected_at: datetime | None = None,
) -> list[tuple[str, str]]:
    """`(key, body)` to put in the ground-truth bucket: one `.jsonl` object under
    `<prefix>yyyy/mm/dd/hh/`, named by its content (so a retry overwrites, and two
    batches in the same hour do not). Nothing for no pairs."""
    _check_prefix(prefix)
    rows = records(pairs)
    if not rows:
        return []
    body = to_jsonl(rows)
    folder = hour_folder(collected_at or datetime.now(UTC))
    name = f"labels-{hashlib.sha256(body.encode()).hexdigest()[:16]}.jsonl"
    return [(f"{prefix}{folder}{name}", body)]


def write_local(
    pairs: Iterable[tuple[str, Label]],
    out_dir: str | Path,
    *,
    prefix: str = "",
    collected_at: datetime | None = None,
) -> list[Path]:
    """Write the objects of `s3_objects` below `out_dir` (key as relative path)."""
    written = []
    for key, body in s3_objects(pairs, prefix=prefix, collected_at=collected_at):
        path = Path(out_dir) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        written.append(path)
    return written


def read_labels_csv(path: str | Path) -> list[tuple[str, str]]:
    """`(inference_id, label)` rows of a two-column CSV; a first row
    `inference_id,label` is a header and skipped."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r]
    if rows and [c.strip().lower() for c in rows[0]] == ["inference_id", "label"]:
        rows = rows[1:]
    for number, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise _fail("ground_truth --labels", f"row {number}", ",".join(row), "two columns")
    return [(r[0].strip(), r[1].strip()) for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    """Write a labels CSV as ground-truth JSON Lines, laid out as on S3."""
    parser = argparse.ArgumentParser(prog="python -m constructs_lib.ground_truth")
    parser.add_argument("--labels", required=True, help="CSV of inference_id,label rows")
    parser.add_argument(
        "--prefix", required=True, help="s3://<bucket>/<ground_truth_prefix>, ending with '/'"
    )
    parser.add_argument("--out", required=True, help="folder to write the objects below")
    parser.add_argument(
        "--collected-at",
        help="when the labels were collected, ISO 8601 (default: now, UTC)",
    )
    args = parser.parse_args(argv)
    match = _S3_PREFIX.match(args.prefix)
    try:
        if match is None:
            raise _fail(
                "ground_truth", "--prefix", args.prefix, "s3://<bucket>/<prefix ending with '/'>"
            )
        collected = datetime.fromisoformat(args.collected_at) if args.collected_at else None
        keys = s3_objects(
            read_labels_csv(args.labels), prefix=match["prefix"], collected_at=collected
        )
        for key, body in keys:
            path = Path(args.out) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
            print(f"{path} -> s3://{match['bucket']}/{key}")
    except (ConfigurationError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
