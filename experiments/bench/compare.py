#!/usr/bin/env python3
"""Compare GcnKd's benchmark results with PyTorch's on the same machine.

    python3 experiments/bench/compare.py GCNKD.json TORCH.json [--strict]

GCNKD.json comes from `gcnkd bench --json FILE`, TORCH.json from experiments/bench/torch_reference.py --json FILE.
Per case: both medians, the ratio GcnKd time / torch time (< 1 means GcnKd is faster), the target ratio and
PASS/FAIL. Targets: every GEMM at least 0.8x torch's throughput (ratio <= 1.25), spmm at least 1.5x faster
(ratio <= 1/1.5), a GCN training step, the LSP loss and the epoch_* training epochs no slower (ratio <= 1.0). With --strict the exit code is 1 when a case fails
or is missing on one side. Timings on a shared machine are noisy: compare medians of runs made close together.
"""
import argparse
import json
import sys

# (name prefix, maximum ratio GcnKd time / torch time, description)
TARGETS = [
    ("gemm_", 1.25, "throughput >= 0.8x torch"),
    ("spmm_", 1.0 / 1.5, ">= 1.5x faster than torch"),
    ("gcn_step", 1.0, "no slower than torch"),
    ("lsp_", 1.0, "no slower than torch"),
    ("epoch_", 1.0, "no slower than torch"),
]


def target_for(name):
    for prefix, limit, text in TARGETS:
        if name.startswith(prefix):
            return limit, text
    return None, "no target"


def load(path, side):
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except OSError as e:
        sys.exit("compare: cannot read the %s results %s: %s" % (side, path, e.strerror))
    except json.JSONDecodeError as e:
        sys.exit("compare: %s (%s results) is not valid JSON: %s" % (path, side, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        sys.exit("compare: %s (%s results) has no 'results' list" % (path, side))
    return doc, {r["name"]: r for r in doc["results"]}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gcnkd", help="GcnKd results JSON (gcnkd bench --json)")
    ap.add_argument("torch", help="PyTorch results JSON (torch_reference.py --json)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any case fails or is missing")
    args = ap.parse_args(argv)
    gdoc, g = load(args.gcnkd, "GcnKd")
    tdoc, t = load(args.torch, "torch")
    print("GcnKd: %s, %s threads, %s" % (gdoc.get("version", "?"), gdoc.get("threads", "?"), gdoc.get("blas", "?")))
    print("torch: %s, %s threads, BLAS %s" % (tdoc.get("version", "?"), tdoc.get("threads", "?"), tdoc.get("blas", "?")))
    print()
    print("%-24s %12s %12s %8s %8s  %s" % ("case", "GcnKd ms", "torch ms", "ratio", "target", "verdict"))
    names = list(g) + [n for n in t if n not in g]
    failed = 0
    for name in names:
        limit, text = target_for(name)
        if name in g and name not in t and limit is None:
            # a GcnKd-only case (no torch counterpart, no target): e.g. the LSP overhead pair student_*_epoch_cora
            print("%-24s %12.3f %12s %8s %8s  GcnKd only" % (name, g[name]["median_ms"], "-", "-", "-"))
            continue
        if name not in g or name not in t:
            print("%-24s %12s %12s %8s %8s  MISSING (%s)" % (
                name, "%.3f" % g[name]["median_ms"] if name in g else "-",
                "%.3f" % t[name]["median_ms"] if name in t else "-", "-",
                "<=%.2f" % limit if limit else "-", "no GcnKd result" if name not in g else "no torch result"))
            failed += 1
            continue
        gm, tm = g[name]["median_ms"], t[name]["median_ms"]
        ratio = gm / tm if tm > 0 else float("inf")
        if limit is None:
            verdict = "-"
        elif ratio <= limit:
            verdict = "PASS (%s; GcnKd %.2fx %s)" % (text, 1 / ratio if ratio < 1 else ratio, "faster" if ratio < 1 else "slower")
        else:
            verdict = "FAIL (%s; GcnKd %.2fx %s)" % (text, 1 / ratio if ratio < 1 else ratio, "faster" if ratio < 1 else "slower")
            failed += 1
        print("%-24s %12.3f %12.3f %8.3f %8s  %s" % (name, gm, tm, ratio, "<=%.2f" % limit if limit else "-", verdict))
    print()
    print("ratio = GcnKd median / torch median (< 1: GcnKd faster); %d of %d cases pass, %d fail or are missing" % (
        len(names) - failed, len(names), failed))
    return 1 if (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
