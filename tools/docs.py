"""Build the API reference of `constructs_lib` as browsable HTML (`make docs`).

pdoc renders every public module, construct, value class and field from its docstrings.
Any warning pdoc raises (a name in `__all__` that does not resolve, a docstring it cannot
render, ...) fails the build, so the reference stays complete.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

# Imported before pdoc runs: pdoc imports modules with subprocess defused, and
# aws-cdk-lib starts its Node.js runtime (jsii) with a subprocess on first import.
importlib.import_module("constructs_lib")

import pdoc  # noqa: E402
import pdoc.render  # noqa: E402


def build(output_directory: Path) -> list[str]:
    """Write the HTML into `output_directory`; return pdoc's warnings (empty when clean)."""
    pdoc.render.configure(docformat="restructuredtext", footer_text="constructs_lib")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc("constructs_lib", output_directory=output_directory)
    return [
        f"{w.filename}:{w.lineno}: {w.message}"
        for w in caught
        if f"{os.sep}pdoc{os.sep}" in w.filename
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "api")
    args = parser.parse_args()
    problems = build(args.output)
    for problem in problems:
        print(f"docs: {problem}", file=sys.stderr)
    if problems:
        sys.exit(f"docs: {len(problems)} warning(s); the API reference is incomplete")
    print(f"docs: open {args.output / 'index.html'}")


if __name__ == "__main__":
    main()
