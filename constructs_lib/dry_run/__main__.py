"""`python -m constructs_lib.dry_run`: run, check or draw the pipelines of an assembly.

Exit status: 0 every pipeline succeeded; 1 a step failed or a Fail step ran;
2 a wiring error (the message names the step, the JSON path and what was expected)
or a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from constructs_lib.dry_run import checks, report
from constructs_lib.dry_run.assembly import Assembly
from constructs_lib.dry_run.errors import DryRunError
from constructs_lib.dry_run.localfs import LocalS3
from constructs_lib.dry_run.mermaid import diagram, readme_block
from constructs_lib.dry_run.runner import (
    Options,
    PipelineRun,
    StepRun,
    _preflight,
    dry_run,
    seed_staged_code,
    summary,
)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise DryRunError("dry run", option, f"NAME=VALUE, got {value!r}")
        pairs[name] = text
    return pairs


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m constructs_lib.dry_run",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    cli.add_argument(
        "--assembly",
        type=Path,
        default=Path("cdk.out"),
        help="cloud assembly folder (default cdk.out)",
    )
    cli.add_argument(
        "--pipeline", action="append", default=[], help="pipeline name (repeatable; default all)"
    )
    cli.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter override",
    )
    cli.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="S3URI=PATH",
        help="seed a local file or folder at an S3 URI",
    )
    cli.add_argument(
        "--workdir",
        type=Path,
        default=Path(".dry-run"),
        help="local S3 tree, step folders, cache (default .dry-run)",
    )
    cli.add_argument(
        "--repo-root",
        type=Path,
        default=None,
        help="where the promotion manifest is read (default the assembly's parent)",
    )
    cli.add_argument("--container-paths", choices=["auto", "namespace", "rewrite"], default="auto")
    cli.add_argument("--no-cache", action="store_true", help="ignore CacheConfig")
    cli.add_argument(
        "--no-approve",
        action="store_true",
        help="do not stand in for the reviewer of a pending package",
    )
    cli.add_argument("--json", type=Path, help="write the runs as JSON to this file")
    cli.add_argument("--check", action="store_true", help="static checks only: run nothing")
    cli.add_argument(
        "--mermaid",
        action="store_true",
        help="print each pipeline's DAG (coloured by the last run in --workdir)",
    )
    cli.add_argument(
        "--readme",
        action="store_true",
        help="print each pipeline's README block (markers and plain DAG)",
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        assembly = Assembly.load(arguments.assembly)
        sources = [
            p
            for p in assembly.pipelines()
            if not arguments.pipeline or p.name in arguments.pipeline
        ]
        if arguments.pipeline and len(sources) != len(set(arguments.pipeline)):
            known = ", ".join(p.name for p in assembly.pipelines())
            raise DryRunError("dry run", "--pipeline", f"pipeline names of the assembly ({known})")
        if arguments.readme or arguments.mermaid:
            for source in sources:
                if arguments.readme:
                    print(readme_block(source.stack.name, source.definition))
                else:
                    print(
                        f"%% {source.name}\n{diagram(source.definition, _last_run(arguments.workdir, source.name))}"
                    )
            return 0
        overrides = _pairs(arguments.param, "--param")
        if arguments.check:
            s3 = LocalS3(arguments.workdir / "s3")
            seed_staged_code(assembly, s3)
            for source in sources:
                graph, _ = checks.check(source.definition, overrides)
                _preflight(graph, s3)
                print(
                    f"{source.name}: {len(graph.steps)} steps wired correctly ({' -> '.join(graph.order())})"
                )
            return 0
        options = Options(
            workdir=arguments.workdir,
            parameters=overrides,
            datasets={k: Path(v) for k, v in _pairs(arguments.dataset, "--dataset").items()},
            container_paths=arguments.container_paths,
            cache=not arguments.no_cache,
            approve=not arguments.no_approve,
            repo_root=arguments.repo_root or arguments.assembly.resolve().parent,
        )
        runs = dry_run(assembly, options, [s.name for s in sources])
    except DryRunError as error:
        print(f"dry run: {error}", file=sys.stderr)
        return 2
    print()
    print(report.table(runs))
    print()
    for run in runs:
        print(report.details(run))
    print(report.legend())
    if arguments.json:
        arguments.json.write_text(json.dumps([summary(r) for r in runs], indent=2, default=str))
    for run in runs:
        if run.error:
            print(f"dry run: {run.error}", file=sys.stderr)
    if any(r.status == "Invalid" for r in runs):
        return 2
    return 0 if all(r.status == "Succeeded" for r in runs) else 1


def _last_run(workdir: Path, pipeline: str) -> PipelineRun | None:
    summaries = sorted(
        (workdir / "runs" / pipeline).glob("*/summary.json"), key=lambda p: p.stat().st_mtime
    )
    if not summaries:
        return None
    data = json.loads(summaries[-1].read_text())
    run = PipelineRun(
        data["pipeline"],
        data["stack"],
        data["execution"],
        data["container_paths"],
        status=data["status"],
    )
    run.steps = [
        StepRun(s["name"], s["type"], s["status"], s["ran"], s["seconds"], s["note"])
        for s in data["steps"]
    ]
    return run


if __name__ == "__main__":
    sys.exit(main())
