"""The label helper writes what Model Monitor's merge job reads.

Format checked against the SageMaker documentation, "Ingest Ground Truth labels and
merge them with predictions":
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html
(the record below is the page's example; files are JSON Lines under
`s3://<bucket>/<prefix>/yyyy/mm/dd/hh/`, dated when the labels were collected).
"""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from constructs_lib import ground_truth as gt
from constructs_lib.errors import ConfigurationError

DOCUMENTED_EXAMPLE = {
    "groundTruthData": {"data": "1", "encoding": "CSV"},
    "eventMetadata": {"eventId": "aaaa-bbbb-cccc"},
    "eventVersion": "0",
}
COLLECTED = datetime(2026, 11, 5, 14, 37, tzinfo=UTC)


def test_a_record_is_the_documented_example():
    assert gt.record("aaaa-bbbb-cccc", 1) == DOCUMENTED_EXAMPLE


def test_labels_are_text_as_the_csv_encoding_expects():
    assert gt.record("r", 0.25)["groundTruthData"] == {"data": "0.25", "encoding": "CSV"}
    assert gt.record("r", "yes")["groundTruthData"]["data"] == "yes"


def test_json_lines_one_object_per_line():
    body = gt.to_jsonl(gt.records([("aaaa-bbbb-cccc", 1), ("dddd", 0)]))
    lines = body.splitlines()
    assert body.endswith("\n") and len(lines) == 2
    assert json.loads(lines[0]) == DOCUMENTED_EXAMPLE
    assert json.loads(lines[1])["eventMetadata"] == {"eventId": "dddd"}


def test_objects_go_under_the_hour_the_labels_were_collected():
    ((key, body),) = gt.s3_objects([("a", 1)], prefix="ground-truth/churn/", collected_at=COLLECTED)
    assert key.startswith("ground-truth/churn/2026/11/05/14/labels-")
    assert key.endswith(".jsonl")
    assert json.loads(body) == gt.record("a", 1)


def test_the_hour_is_utc():
    local = datetime(2026, 11, 5, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert gt.hour_folder(local) == "2026/11/04/23/"
    assert gt.hour_folder(datetime(2026, 1, 2, 3)) == "2026/01/02/03/"


def test_the_name_follows_the_content_so_a_retry_overwrites():
    first = gt.s3_objects([("a", 1)], prefix="p/", collected_at=COLLECTED)
    again = gt.s3_objects([("a", 1)], prefix="p/", collected_at=COLLECTED)
    other = gt.s3_objects([("b", 1)], prefix="p/", collected_at=COLLECTED)
    assert first == again
    assert first[0][0] != other[0][0]


def test_no_labels_no_object():
    assert gt.s3_objects([], prefix="p/", collected_at=COLLECTED) == []


def test_write_local_lays_out_the_keys(tmp_path):
    (path,) = gt.write_local([("a", 1)], tmp_path, prefix="gt/", collected_at=COLLECTED)
    assert path.relative_to(tmp_path).as_posix().startswith("gt/2026/11/05/14/labels-")
    assert json.loads(path.read_text()) == gt.record("a", 1)


def test_cli_writes_the_objects_and_names_their_s3_uris(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\naaaa-bbbb-cccc,1\ndddd,0\n")
    code = gt.main(
        [
            "--labels",
            str(labels),
            "--prefix",
            "s3://my-bucket/ground-truth/churn/",
            "--out",
            str(tmp_path / "out"),
            "--collected-at",
            "2026-11-05T14:37:00+00:00",
        ]
    )
    assert code == 0
    (written,) = (tmp_path / "out").rglob("*.jsonl")
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert rows[0] == DOCUMENTED_EXAMPLE
    assert "s3://my-bucket/ground-truth/churn/2026/11/05/14/labels-" in capsys.readouterr().out


def test_cli_refuses_a_prefix_that_is_not_s3(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("a,1\n")
    assert gt.main(["--labels", str(labels), "--prefix", "bucket/x/", "--out", str(tmp_path)]) == 2
    assert "--prefix: got 'bucket/x/'" in capsys.readouterr().err


def test_the_module_imports_no_cdk():
    """Cheap to import from a labelling job or a Lambda: stdlib and errors.py only."""
    tree = ast.parse(Path(gt.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        a.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for a in node.names
    }
    assert not imported & {"aws_cdk", "constructs", "jsii", "boto3"}
    errors = Path(gt.__file__).with_name("errors.py").read_text()
    assert "import" not in errors.replace('"""', "")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gt.record("", 1), "ground_truth.record inference_id: got ''"),
        (lambda: gt.record("x" * 65, 1), "inference_id: got 'xxx"),
        (lambda: gt.record(7, 1), "inference_id: got an int 7"),
        (lambda: gt.record("a", True), "label: got a bool True"),
        (lambda: gt.record("a", "1,2"), "label: got '1,2'; allowed one CSV value"),
        (
            lambda: gt.records([("a", 1), ("a", 0)]),
            "records inference_id: got 'a'; allowed each id once",
        ),
        (lambda: gt.s3_objects([("a", 1)], prefix="gt"), "prefix: got 'gt'"),
        (lambda: gt.hour_folder("2026-01-01"), "collected_at: got '2026-01-01'"),
    ],
)
def test_invalid_input_names_what_is_allowed(call, match):
    with pytest.raises(ConfigurationError, match=match):
        call()


def test_a_csv_row_with_three_columns_is_refused(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("a,1,2\n")
    with pytest.raises(ConfigurationError, match="row 1: got 'a,1,2'; allowed two columns"):
        gt.read_labels_csv(labels)
