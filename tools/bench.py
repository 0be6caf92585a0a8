"""`make bench`: how long users wait, measured (a benchmark, not a test).

Prints the median of several warm `cdk synth` runs (the CLI, as `make synth` runs it),
the median time to import the app's modules, and one run of the whole test suite.
Nothing is asserted: compare the figures with the budgets in the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm synth and import runs")
    parser.add_argument("--skip-tests", action="store_true", help="do not time the test suite")
    args = parser.parse_args()
    env = {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        "CDK_VALIDATION": os.environ.get("CDK_VALIDATION", "false"),  # as `make synth`
    }
    cdk = [str(ROOT / "node_modules" / ".bin" / "cdk"), "synth", "--quiet", "--no-notices"]

    timed(cdk, env)  # warm-up: fills the definition cache and the OS file cache
    synth = [timed(cdk, env) for _ in range(args.runs)]
    imports = [
        timed([sys.executable, "-c", "import app, aws_cdk, cdk_nag"], env) for _ in range(args.runs)
    ]
    print(
        f"warm synth (cdk synth, {args.runs} runs): median {statistics.median(synth):.2f} s,"
        f" min {min(synth):.2f} s, max {max(synth):.2f} s"
    )
    print(
        f"import app + aws-cdk-lib + cdk-nag ({args.runs} runs): median"
        f" {statistics.median(imports):.2f} s"
    )
    if not args.skip_tests:
        suite = timed([str(BIN / "pytest"), "-q", "-n", "2", "--dist", "loadgroup"], env)
        print(f"test suite (pytest, 1 run): {suite:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
