#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the JSON files scripts/benchmarks.sh leaves in build/benchmarks."""
import argparse
import json
import os
import platform
import re
import subprocess
from datetime import datetime, timezone

# The targets of the speed work, for the table at the end (1 thread): seconds per event on an
# AMD EPYC core, where the IEA-GAN must also run 22 times faster than PyTorch; a Sapphire
# Rapids core (an Intel Xeon with AMX) is held to 2 s for the IEA-GAN.
TARGETS = {"ieagan_production": 3.0, "wgan_convnet": 5.0, "wgan_resnet": 4.0}
SAPPHIRE_RAPIDS_TARGETS = {**TARGETS, "ieagan_production": 2.0}
IEAGAN_SPEEDUP_TARGET = 22.0
MEMORY_TARGET_MB = 150
LOAD_TARGET_S = 0.1


def load(folder, name):
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        text = f.read()
    name = re.search(r"model name\s*:\s*(.*)", text)
    family = re.search(r"cpu family\s*:\s*(\d+)", text)
    model = re.search(r"^model\s*:\s*(\d+)", text, re.M)
    mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", text)
    flags = re.search(r"flags\s*:\s*(.*)", text)
    isa = [f for f in ("avx2", "fma", "avx512f", "amx_tile") if flags and f in flags.group(1).split()]
    cpu = name.group(1).strip() if name else platform.processor()
    # Virtual machines often report a bare "AMD EPYC": the family and model tell the
    # generations apart (AMD family 23 is Zen 1 and 2, 25 is Zen 3 and 4), and their FMA
    # peaks differ by more than twice.
    if family and model:
        cpu += f" (family {family.group(1)}, model {model.group(1)}"
        cpu += f", {float(mhz.group(1)) / 1000:.1f} GHz)" if mhz else ")"
    return cpu, isa


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def conv_table(conv, peak):
    """Rows of (shape, ours GFLOP/s, oneDNN GFLOP/s, ratios) and the time-weighted sums; the
    last ratio is against oneDNN running the whole layer (batch norm + ReLU, then convolution),
    where the benchmark has it."""
    by_shape = {}
    for b in conv["benchmarks"]:
        shape, impl = b["name"].rsplit("/", 1)
        by_shape.setdefault(shape, {})[impl] = b
    lines = ["| layer shape | ours | GFLOP/s | % of peak | oneDNN GFLOP/s | ours / oneDNN | "
             "ours / oneDNN with its BN + ReLU |",
             "|---|---|---:|---:|---:|---:|---:|"]
    ours_total = dnnl_total = 0.0
    wins = shapes = 0
    layer_wins = layer_shapes = 0
    for shape, impls in by_shape.items():
        dnnl = impls.get("onednn")
        ours_name = "avx512f" if "avx512f" in impls else "avx2"
        ours = impls.get(ours_name)
        if dnnl is None or ours is None:
            continue
        ratio = dnnl["cpu_time"] / ours["cpu_time"]
        ours_total += ours["cpu_time"]
        dnnl_total += dnnl["cpu_time"]
        shapes += 1
        wins += ratio >= 1.0
        layer = impls.get("onednn-bn-relu")
        layer_ratio = "-"
        if layer is not None:
            r = layer["cpu_time"] / ours["cpu_time"]
            layer_ratio = f"{r:.2f}x"
            layer_shapes += 1
            layer_wins += r >= 1.0
        lines.append(f"| `{shape[len('conv2d/'):]}` | {ours_name} | {ours['GFLOP/s']:.1f} | "
                     f"{100 * ours['GFLOP/s'] / peak:.0f} % | {dnnl['GFLOP/s']:.1f} | {ratio:.2f}x | {layer_ratio} |")
    total_ratio = dnnl_total / ours_total if ours_total else float("nan")
    return lines, total_ratio, wins, shapes, layer_wins, layer_shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()

    peak_runs = load(args.dir, "peak.json")["benchmarks"]
    peak = max(b["GFLOP/s"] for b in peak_runs)
    conv = load(args.dir, "conv2d.json")
    model1 = load(args.dir, "model_1thread.json")
    model_n = load(args.dir, "model_all_threads.json")
    compare = load(args.dir, "compare_pytorch.json")
    cpu, isa = cpu_model()
    context = conv["context"]

    out = ["# pxdgen benchmarks", "",
           f"Regenerate with `{args.command}` (figures below are from one run of it).", "",
           "## Machine", "",
           f"- CPU: {cpu}, {context['num_cpus']} logical cores, ISA used: {', '.join(isa) or 'generic'}",
           f"- measured FMA peak of one core: **{peak:.1f} GFLOP/s** (bench/bench_peak.cpp)",
           f"- load average at the start: {', '.join(f'{x:.1f}' for x in context.get('load_avg', []))}",
           f"- pxdgen commit {git_commit()}, {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}", "",
           "Kernels and single-thread events run pinned to one core. Times are CPU times for the",
           "kernels (the machine is shared), wall times for whole events.", ""]

    out += ["## Whole events, PyTorch against pxdgen", "",
            f"Same converted checkpoint, same latents, {compare['meta']['threads']} thread(s), "
            f"PyTorch {compare['meta']['torch']} (float32). {compare['meta']['note']}.", "",
            "| model | GMAC/event | PyTorch s/event | pxdgen s/event | speed-up | digits PyTorch / pxdgen "
            "| pxdgen load | pxdgen peak RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in compare["rows"]:
        out.append(f"| {r['family']} | {r['gmac_per_event']:.1f} | "
                   f"{r['pytorch_seconds_per_event']:.2f} | {r['pxdgen_seconds_per_event']:.2f} | "
                   f"{r['speedup']:.1f}x | {r['pytorch_digits']} / {r['pxdgen_digits']} | "
                   f"{1e3 * r['pxdgen_load_seconds']:.0f} ms | {r['pxdgen_peak_rss_mb']:.0f} MB |")
    out += ["", "Load: memory-mapping the `.pxdg` file, checking its checksums and building the",
            "generator. Peak RSS: the whole `pxdgen bench` process.", ""]

    out += ["## Built-in model (full-size IEA-GAN), `pxdgen bench`", "",
            "| threads | s/event (median) | min | max | GFLOP/s | % of peak x threads | load | peak RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in (model1, model_n):
        s = m["seconds_per_event"]
        out.append(f"| {m['threads']} | {s['median']:.2f} | {s['min']:.2f} | {s['max']:.2f} | {m['gflops']:.1f} | "
                   f"{100 * m['gflops'] / (peak * m['threads']):.0f} % | {1e3 * m['load_seconds']:.0f} ms | "
                   f"{m['peak_rss_mb']:.0f} MB |")
    out += ["", "GFLOP/s counts the dense arithmetic of the event (201 GMAC); above 100 % of peak, the",
            "Winograd and phase kernels below do fewer multiplies than that. The built-in model's",
            "load time includes drawing its random weights; a `.pxdg` file is memory-mapped and",
            "checksummed instead.", ""]

    lines, total_ratio, wins, shapes, layer_wins, layer_shapes = conv_table(conv, peak)
    out += ["## Hot convolution shapes, ours beside oneDNN (one core)", "",
            "GFLOP/s counts the dense convolution at the output size for both, so the ratios read",
            "directly. Ours fuses the input batch norm + ReLU and the 2x nearest upsampling (computed",
            "as four phase kernels on the small input); oneDNN gets the upsampled input, made outside",
            "the timed loop, and its fastest primitive for the shape (`bench/bench_conv2d.cpp`). Above",
            "100 % of peak means fewer multiplies than the dense count: the phase kernels of a 2x",
            "upsampled 5x5 convolution do 9/25 of them; Winograd F(2x2, 2x2) on the phases of a 2x",
            "upsampled 3x3 does 36/144, F(4x4, 3x3) (from 16x48 up) 36/144 and F(2x2, 3x3) (8x24, and",
            "4x12 with its GEMM over the output channels) 16/36 of those of a plain 3x3, F(2x2, 5x5)",
            "36/100 of those of a plain 5x5, before their transforms. Ours runs with the Winograd",
            "weights transformed once, as every generator keeps them from load. Where a block's last 1x1 adds",
            "its skip (`res`), both add onto an output that holds it, as the engine does for blocks",
            "that keep their size; `res-up2` reads the skip at half size, nearest-upsampled, where",
            "oneDNN gets it upsampled in its output.", "",
            "The targets compare against oneDNN given its input already activated. The last column",
            "times what an engine built on oneDNN would run for the layer where the input is not",
            "upsampled: oneDNN's batch norm with its ReLU fused, into a second tensor, then the",
            "convolution (the layer that makes the input cannot fold that batch norm in: the skip",
            "reads the input raw).", ""]
    out += lines
    out += ["", f"Sum over the shapes: **{total_ratio:.2f}x** oneDNN's time; ours at least as fast on "
                f"{wins} of {shapes} shapes; against oneDNN running the whole layer, on {layer_wins} of "
                f"{layer_shapes}.", ""]

    out += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    by_family = {r["family"]: r for r in compare["rows"]}
    sapphire_rapids = "amx_tile" in isa
    targets = SAPPHIRE_RAPIDS_TARGETS if sapphire_rapids else TARGETS
    for family, limit in targets.items():
        r = by_family.get(family)
        if r and compare["meta"]["threads"] == 1:
            v = r["pxdgen_seconds_per_event"]
            out.append(f"| {family} <= {limit:.0f} s/event, 1 thread | {v:.2f} s | {'yes' if v <= limit else 'no'} |")
    ieagan = by_family.get("ieagan_production")
    if ieagan and not sapphire_rapids and compare["meta"]["threads"] == 1:
        x = ieagan["speedup"]
        out.append(f"| ieagan_production >= {IEAGAN_SPEEDUP_TARGET:.0f}x PyTorch, same run | {x:.1f}x | "
                   f"{'yes' if x >= IEAGAN_SPEEDUP_TARGET else 'no'} |")
    if ieagan:
        load_s = ieagan["pxdgen_load_seconds"]
        out.append(f"| model load <= {1e3 * LOAD_TARGET_S:.0f} ms (IEA-GAN .pxdg) | {1e3 * load_s:.0f} ms | "
                   f"{'yes' if load_s <= LOAD_TARGET_S else 'no'} |")
        # The model file, not the built-in model, whose random weights are drawn at load.
        rss = ieagan["pxdgen_peak_rss_mb"]
        out.append(f"| peak memory <= {MEMORY_TARGET_MB} MB, 1 thread (IEA-GAN .pxdg, "
                   f"{ieagan['pxdgen_digits'] / ieagan['events']:.0f} digits/event) | {rss:.0f} MB | "
                   f"{'yes' if rss <= MEMORY_TARGET_MB else 'no'} |")
    out.append(f"| every hot shape >= 1.0x oneDNN | {wins} of {shapes} | {'yes' if wins == shapes else 'no'} |")
    out.append(f"| sum of hot shapes >= 1.5x oneDNN | {total_ratio:.2f}x | {'yes' if total_ratio >= 1.5 else 'no'} |")
    out.append("")
    if "avx512f" not in isa:
        out += ["Not measured by this run: the AVX-512 kernels and the Sapphire Rapids targets (<= 2.0 s",
                "per IEA-GAN event on one core, <= 0.2 s on 16): this CPU has no AVX-512.", ""]
    elif not sapphire_rapids:
        out += ["Not measured by this run: the Sapphire Rapids targets (<= 2.0 s per IEA-GAN event on one",
                "core, >= 5x ONNX Runtime there): this CPU is not one (no AMX); its figures are held to",
                "the AMD EPYC targets.", ""]
    if context["num_cpus"] < 16:
        out += [f"Not measured by this run: the 16-thread target (<= 0.2 s per IEA-GAN event): this machine has "
                f"{context['num_cpus']} cores.", ""]
    with open(args.output, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
