"""`make bench`: how long users wait, measured (a benchmark, not a test).

Prints the median of several warm `cdk synth` runs (the CLI, as `make synth` runs it),
the median warm synth of generated apps with 1, 10 and 25 models (every feature on,
`tests/scale/generate.py`) and the slope `per_extra_model_s`, the median time to import
the app's modules, the dry run's time per reference pipeline (cold, no step cache, on
the `cdk.out` the synth runs wrote; budget 60 s each), and one run of the whole test
suite. Nothing is asserted: compare the figures with the budgets in the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
MODEL_COUNTS = (1, 10, 25)


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
    generated = {count: _generated_synth(cdk, env, count, args.runs) for count in MODEL_COUNTS}
    imports = [
        timed([sys.executable, "-c", "import app, aws_cdk, cdk_nag"], env) for _ in range(args.runs)
    ]
    print(
        f"warm synth (cdk synth, {args.runs} runs): median {statistics.median(synth):.2f} s,"
        f" min {min(synth):.2f} s, max {max(synth):.2f} s"
    )
    for count, seconds in generated.items():
        print(f"warm synth, {count} generated models: median {seconds:.2f} s")
    print(f"per_extra_model_s={_slope(generated):.3f}")
    print(
        f"import app + aws-cdk-lib + cdk-nag ({args.runs} runs): median"
        f" {statistics.median(imports):.2f} s"
    )
    for pipeline, seconds in _dry_run(env).items():
        print(f"dry run, {pipeline}: {seconds:.1f} s")
    if not args.skip_tests:
        suite = timed([str(BIN / "pytest"), "-q", "-n", "2", "--dist", "loadfile"], env)
        print(f"test suite (pytest, 1 run): {suite:.1f} s")
    return 0


def _generated_synth(cdk: list[str], env: dict[str, str], count: int, runs: int) -> float:
    """Median warm synth of an app whose config has `count` generated models."""
    sys.path.insert(0, str(ROOT))
    from tests.scale.generate import generate

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config"
        generate(config, count)
        command = [*cdk, "-c", f"config_dir={config}", "--output", str(Path(folder) / "out")]
        timed(command, env)  # warm-up: definition cache, staged assets
        return statistics.median(timed(command, env) for _ in range(max(1, runs // 2)))


def _dry_run(env: dict[str, str]) -> dict[str, float]:
    """Seconds per pipeline of one cold dry run of `cdk.out` (a failed run prints its status)."""
    import json

    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "runs.json"
        command = [str(BIN / "python"), "-m", "constructs_lib.dry_run", "--assembly", "cdk.out"]
        command += ["--workdir", str(Path(folder) / "work"), "--no-cache", "--json", str(report)]
        subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not report.is_file():
            return {"(dry run failed before any pipeline ran)": float("nan")}
        runs = json.loads(report.read_text())
    return {
        (
            r["pipeline"] if r["status"] == "Succeeded" else f"{r['pipeline']} ({r['status']})"
        ): float(r["seconds"])
        for r in runs
    }


def _slope(points: dict[int, float]) -> float:
    """Least-squares seconds per model through (model count, seconds)."""
    xs, ys = list(points), list(points.values())
    mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )


if __name__ == "__main__":
    sys.exit(main())
