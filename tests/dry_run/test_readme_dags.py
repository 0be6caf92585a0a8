"""The README's DAG pictures are the ones generated from the synthesized definitions."""

from __future__ import annotations

import re
from pathlib import Path

from constructs_lib.dry_run import Assembly, readme_block

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_shows_each_pipelines_current_dag(assembly_dir: Path) -> None:
    text = README.read_text()
    for source in Assembly.load(assembly_dir).pipelines():
        key = source.stack.name
        found = re.search(
            rf"<!-- dag:{re.escape(key)} -->.*?<!-- /dag:{re.escape(key)} -->\n", text, re.S
        )
        assert found, (
            f"README.md has no <!-- dag:{key} --> block: paste `python -m constructs_lib.dry_run --readme`"
        )
        assert found.group(0) == readme_block(key, source.definition), (
            f"README.md's DAG of {key} is out of date: paste `python -m constructs_lib.dry_run --readme`"
        )
