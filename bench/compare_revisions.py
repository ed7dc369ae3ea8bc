#!/usr/bin/env python3
"""Times two revisions of pxdgen against each other on this machine, alternating their runs.

On a shared machine the speed of a core drifts by tens of percent within minutes, so two
revisions timed one after the other can differ by more than the change between them. This
script builds both revisions, then runs their benchmarks in turns (base, head, base, head,
...) and compares the fastest run of each: the run least disturbed by the machine's other
work. It prints, per benchmark, both minima, the ratio head / base and each side's spread
(max / min), which says how far the minima can be trusted.

  python3 bench/compare_revisions.py BASE [HEAD] [--filter REGEX] [--rounds N] [--event]

BASE and HEAD are git revisions; HEAD defaults to the working tree (built into build/ as
scripts/build.sh does). Revisions are exported with `git archive` and built in
build/revisions/<commit>, kept for the next comparison. --filter picks kernel benchmarks of
pxdgen_bench_conv2d (Google Benchmark names, e.g. 'k1/16->64/.*avx512f$'); --event times
whole events instead (`pxdgen bench -n 1`, of the built-in model or of --model M.pxdg).
Each run is pinned to core 0 where taskset exists.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ["pxdgen_bench_conv2d", "pxdgen_cli"]


class Failure(Exception):
    pass


def run(cmd):
    result = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
    if result.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed (exit {result.returncode}):\n{result.stderr.strip()[-2000:]}")
    return result.stdout


def build(source, build_dir):
    run(["cmake", "-S", source, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 1), "--target", *TARGETS])
    return build_dir


def build_revision(rev):
    """The build folder of a git revision, or of the working tree for None."""
    if rev is None:
        return build(ROOT, os.path.join(ROOT, "build"))
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", rev + "^{commit}"], cwd=ROOT, text=True,
                           capture_output=True)
    commit = found.stdout.strip()
    if found.returncode != 0 or not commit:
        raise Failure(f"no such revision: {rev}")
    source = os.path.join(ROOT, "build", "revisions", commit[:12])
    if not os.path.isdir(source):
        # Exported whole into a fresh folder first, so a failed export leaves nothing that
        # looks like a finished one.
        os.makedirs(os.path.dirname(source), exist_ok=True)
        partial = tempfile.mkdtemp(prefix=commit[:12] + ".", dir=os.path.dirname(source))
        archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", partial], stdin=archive.stdout, capture_output=True)
        archive.stdout.close()
        if archive.wait() != 0 or untar.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise Failure(f"could not export {rev} ({commit[:12]})")
        os.rename(partial, source)
    return build(source, os.path.join(source, "build"))


def pinned(cmd):
    return (["taskset", "-c", "0"] if shutil.which("taskset") else []) + cmd


def time_kernels(build_dir, pattern, min_time):
    """Seconds per iteration of each kernel benchmark matching pattern."""
    out = run(pinned([os.path.join(build_dir, "bench", "pxdgen_bench_conv2d"), f"--benchmark_filter={pattern}",
                      f"--benchmark_min_time={min_time}", "--benchmark_format=json"]))
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    for b in json.loads(out)["benchmarks"] if out.strip() else []:
        if b.get("run_type", "iteration") == "iteration" and "error_occurred" not in b:
            times[b["name"]] = b["real_time"] * scale[b["time_unit"]]
    if not times:
        raise Failure(f"no benchmark of {build_dir} matches {pattern!r}")
    return times


def time_event(build_dir, model):
    cmd = [os.path.join(build_dir, "pxdgen"), "bench", "-n", "1", "--threads", "1", "--json"]
    if model:
        cmd += ["-m", model]
    out = run(pinned(cmd))
    name = f"event ({os.path.basename(model) if model else 'built-in model'}, 1 thread)"
    return {name: json.loads(out)["seconds_per_event"]["min"]}


def format_seconds(s):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3f} {unit}"
    return f"{s / 1e-9:.1f} ns"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="git revision to compare against")
    parser.add_argument("head", nargs="?", help="git revision (default: the working tree)")
    parser.add_argument("--filter", default="avx512f$|avx2$", help="regex of pxdgen_bench_conv2d benchmarks")
    parser.add_argument("--event", action="store_true", help="time whole events instead of kernels")
    parser.add_argument("--model", help="with --event: this model file instead of the built-in model")
    parser.add_argument("--rounds", type=int, default=12, help="runs of each side, alternating (default 12)")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per kernel benchmark run")
    parser.add_argument("--json", help="also write the minima and ratios here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.model and not args.event:
        parser.error("--model needs --event")
    if args.model and not os.path.isfile(args.model):
        parser.error(f"no such model file: {args.model}")
    model = os.path.abspath(args.model) if args.model else None

    try:
        sides = {"base": build_revision(args.base), "head": build_revision(args.head)}
        runs = {"base": {}, "head": {}}
        for r in range(args.rounds):
            # Alternate which side goes first, so neither always follows the other's caches.
            for side in (("base", "head") if r % 2 == 0 else ("head", "base")):
                if args.event:
                    times = time_event(sides[side], model)
                else:
                    times = time_kernels(sides[side], args.filter, args.min_time)
                for name, t in times.items():
                    runs[side].setdefault(name, []).append(t)
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    except Failure as e:
        print(f"compare_revisions: {e}", file=sys.stderr)
        return 1

    names = [n for n in runs["base"] if n in runs["head"]]
    if not names:
        print("compare_revisions: the two revisions share no benchmark", file=sys.stderr)
        return 1
    head_label = args.head or "working tree"
    print(f"{args.rounds} alternating runs a side; minimum of each; spread = max / min of a side's runs")
    print(f"| benchmark | {args.base} | {head_label} | {head_label} / {args.base} | spread base | spread head |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for n in names:
        b, h = runs["base"][n], runs["head"][n]
        rows.append({"name": n, "base_min_s": min(b), "head_min_s": min(h), "ratio": min(h) / min(b),
                     "base_spread": max(b) / min(b), "head_spread": max(h) / min(h)})
        r = rows[-1]
        print(f"| {n} | {format_seconds(r['base_min_s'])} | {format_seconds(r['head_min_s'])} | {r['ratio']:.3f} | "
              f"{r['base_spread']:.2f} | {r['head_spread']:.2f} |")
    for n in sorted(set(runs["base"]) ^ set(runs["head"])):
        print(f"(only in {'base' if n in runs['base'] else 'head'}: {n})")
    if args.json:
        # Written beside and renamed, so an interrupted write leaves no file that looks whole.
        with open(args.json + ".partial", "w") as f:
            json.dump({"base": args.base, "head": head_label, "rounds": args.rounds, "benchmarks": rows}, f, indent=1)
        os.replace(args.json + ".partial", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
