"""``python -m seethink.batch requests.jsonl -o results.jsonl``: a batch file, offline.

Boots the graph on a local Ray (its own temp dir, no dashboard, ports in 20000-32000), or
attaches to a running cluster with ``--address``, and runs the same Ray Data job as the Batch
API against the graph's Ingress, with a progress bar. Results are OpenAI batch output lines, in
input order; failed lines go to ``-e errors.jsonl`` if given, else into the results file too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from seethink.config import load_config
from seethink.ports import free_port
from seethink.store.batch import BatchError, LineResult

from .lines import parse_lines, result_record

APP = "seethink-batch"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m seethink.batch", description=__doc__.split("\n")[0])
    p.add_argument("input", type=Path, help="JSONL file of requests (OpenAI batch format)")
    p.add_argument("-o", "--output", type=Path, required=True, help="results JSONL")
    p.add_argument("-e", "--errors", type=Path, help="failed lines here instead of in -o")
    p.add_argument("--address", help="a running Ray cluster (its graph must be deployed)")
    p.add_argument("--app", default=None, help="Serve app name of the graph on --address")
    p.add_argument("--profile", default=None, help="profile for a local graph (default cpu)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="lines in flight (default: "
        "batch.max_concurrency of the profile; offline, nothing else competes)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    cfg = load_config(args.profile)
    bcfg = cfg.batch
    if args.concurrency:
        bcfg = bcfg.model_copy(
            update={
                "max_concurrency": args.concurrency,
                "actors": min(bcfg.actors, args.concurrency),
            }
        )
    try:
        lines, bad = parse_lines(args.input.read_bytes(), None, bcfg.max_lines, bcfg.max_line_bytes)
    except (OSError, BatchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import ray
    from ray import serve
    from tqdm import tqdm

    # the graph's code (deployments, graph.py) is an application, not core: imported here only
    from deployments.batch import run_job

    local = args.address is None
    app = args.app or ("seethink" if not local else APP)
    started = time.time()
    if local:
        tmp = tempfile.mkdtemp(prefix="seethink-batch-")
        ray.init(
            num_cpus=max(6, os.cpu_count() or 1),
            include_dashboard=False,
            _temp_dir=str(Path(tmp) / "ray"),
            log_to_driver=False,
        )
        serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
        from graph import build_app

        # the online graph without its own batch runner: this process runs the job
        serve.run(
            build_app({"profile": cfg.profile, "batch": {"enabled": False}}),
            name=app,
            route_prefix=None,
        )
        print(f"graph up in {time.time() - started:.0f} s", file=sys.stderr)
    else:
        ray.init(address=args.address, log_to_driver=False)
    results: dict[int, LineResult] = {r.line: r for r in bad}
    bar = tqdm(total=len(lines) + len(bad), unit="line", disable=args.no_progress)
    bar.update(len(bad))
    t0 = time.time()
    try:
        pending = lines
        for attempt in range(bcfg.max_passes):
            last = attempt + 1 == bcfg.max_passes
            for chunk in run_job(
                pending,
                lambda: False,
                app_name=app,
                cfg=bcfg,
                timeout_s=cfg.server.request_timeout_s + 30,
            ):
                for r in chunk:
                    if r.status_code or last:
                        results[r.line] = r
                        bar.update(1)
            pending = [ln for ln in lines if ln.line not in results]
            if not pending:
                break
    finally:
        bar.close()
        if local:
            ray.shutdown()
    elapsed = time.time() - t0
    ok = _write(args, results)
    print(
        f"{len(results)} lines in {elapsed:.1f} s ({len(results) / max(elapsed, 1e-9):.2f}/s):"
        f" {ok} ok, {len(results) - ok} failed",
        file=sys.stderr,
    )
    return 0


def _write(args: argparse.Namespace, results: dict[int, LineResult]) -> int:
    ok = 0
    name = args.input.name
    with open(args.output, "w", encoding="utf-8") as out:
        err = open(args.errors, "w", encoding="utf-8") if args.errors else out
        try:
            for n in sorted(results):
                r = results[n]
                ok += r.ok
                dest = out if r.ok else err
                dest.write(json.dumps(result_record(name, r), ensure_ascii=False) + "\n")
        finally:
            if err is not out:
                err.close()
    return ok


if __name__ == "__main__":
    sys.exit(main())
