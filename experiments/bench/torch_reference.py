#!/usr/bin/env python3
"""PyTorch reference timings for GcnKd's benchmark cases (same cases, same method, same JSON layout).

Each case builds its inputs deterministically, runs a warm-up, then times >= 5 runs and records the median, the
minimum and the number of runs, in milliseconds. Plain PyTorch on the CPU with 2 threads, as GcnKd is measured.

    /usr/bin/python3 experiments/bench/torch_reference.py [--json FILE] [--case NAME] [--runs N]

Case definitions (shared with src/Core.FSharp/Bench/BenchCases.fs; names are m x k x n for GEMMs):
  gemm_MxKxN       A (m x k) @ B (k x n), both standard normal float32.
  spmm_56944x256   CSR (N x N, N = 56944, 14 or 15 entries per row from a fixed formula) @ dense (N x 256).
  gcn_step_cora    one training step of a 2-layer GCN (1433 -> 16 -> 7) on a synthetic Cora-sized graph:
                   forward, cross-entropy on nodes 0..139, backward, Adam(lr 0.01, weight decay 5e-4).
  lsp_rbf_cora_1024x136  LSP loss (RBF score) forward + backward on the synthetic Cora-sized graph A + I,
                   teacher features 1024-d (no grad), student 136-d.
  epoch_gcn_cora   one training epoch (one full-batch step) of Kipf & Welling's GCN on the real Cora.
  epoch_gat_cora   one training epoch of GAT (8 heads x 8, 1 output head) on Cora.
  epoch_gin5_64_proteins  one epoch of GIN5_64 (GFKD's family) over all 1113 PROTEINS graphs, batches of 32.
  gfkd_iteration_mutag  one GFKD generation iteration (feature step + ARM's two forwards + structure step) for 131
                   MUTAG-sized fake graphs against a GCN5_64 teacher; see gfkd_iteration.py.
The epoch_* cases read the data root ($GCNKD_DATA, else --data DIR, else ./data) and mirror GcnKd's models
(src/Core.FSharp/Models/{Gcn,Gat,GfkdFamily,Gin,Mlp}.fs) op for op; see epoch_cases.py.
"""
import argparse
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
import warnings

import torch

# torch 1.13 flags CSR tensors as beta on every construction
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="scatter_reduce\\(\\) is in beta")

THREADS = 2


# ---- cases: each returns a zero-argument callable (the timed action) -------------------------------------------

def gemm_case(m, k, n):
    def setup():
        g = torch.Generator().manual_seed(1234)
        a = torch.randn(m, k, generator=g, dtype=torch.float32)
        b = torch.randn(k, n, generator=g, dtype=torch.float32)
        return lambda: a @ b
    return setup


def spmm_matrix(n):
    """Row i holds d_i = 14 + (1 if i % 5 < 2 else 0) entries; entry j sits at column
    (i + 1 + j*3967 + (i*31) % 3967) % n with value ((i*j) % 13 + 1) / 13 (columns sorted within a row)."""
    i = torch.arange(n, dtype=torch.int64)
    deg = 14 + (i % 5 < 2).to(torch.int64)
    j = torch.arange(15, dtype=torch.int64)
    cols = (i[:, None] + 1 + j[None, :] * 3967 + (i[:, None] * 31) % 3967) % n
    vals = ((i[:, None] * j[None, :]) % 13 + 1).to(torch.float32) / 13.0
    keep = j[None, :] < deg[:, None]
    # sort each row by column, keeping the value with its column; padding goes last
    key = torch.where(keep, cols, torch.full_like(cols, n + 1))
    order = torch.argsort(key, dim=1)
    cols = torch.gather(cols, 1, order)
    vals = torch.gather(vals, 1, order)
    keep = torch.gather(keep, 1, order)
    crow = torch.zeros(n + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(deg, 0)
    return torch.sparse_csr_tensor(crow, cols[keep], vals[keep], size=(n, n))


def spmm_case():
    n, d = 56944, 256
    a = spmm_matrix(n)
    g = torch.Generator().manual_seed(1234)
    b = torch.randn(n, d, generator=g, dtype=torch.float32)
    return lambda: a @ b


def cora_edges(n=2708):
    """Undirected edges {i, (i*7 + j*613 + 1) % n} for j in {1, 2} (no self-edges), deduplicated, both directions,
    plus self-loops: the (row, column) pairs of A + I sorted, as a [2, nnz] index tensor."""
    edges = set()
    for i in range(n):
        for j in (1, 2):
            p = (i * 7 + j * 613 + 1) % n
            if p != i:
                edges.add((i, p))
                edges.add((p, i))
    for i in range(n):
        edges.add((i, i))
    return torch.tensor(sorted(edges), dtype=torch.int64).t()


def cora_graph(n=2708):
    """cora_edges normalised D^-1/2 (A + I) D^-1/2 (Kipf & Welling 2017, eq. 2)."""
    idx = cora_edges(n)
    deg = torch.zeros(n).index_add_(0, idx[0], torch.ones(idx.shape[1]))
    dinv = deg.pow(-0.5)
    vals = dinv[idx[0]] * dinv[idx[1]]
    return torch.sparse_coo_tensor(idx, vals, (n, n)).coalesce()


def glorot(g, fan_in, fan_out):
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return ((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound).requires_grad_()


def gcn_step_case():
    n, f, h, c, train = 2708, 1433, 16, 7, 140
    a = cora_graph(n)
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(n, f, generator=g)
    y = torch.arange(n) % c
    w1, w2 = glorot(g, f, h), glorot(g, h, c)
    b1, b2 = torch.zeros(h, requires_grad=True), torch.zeros(c, requires_grad=True)
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=0.01, weight_decay=5e-4)

    def step():
        opt.zero_grad()
        hid = torch.relu(torch.sparse.mm(a, x @ w1) + b1)
        out = torch.sparse.mm(a, hid @ w2) + b2
        loss = torch.nn.functional.cross_entropy(out[:train], y[:train])
        loss.backward()
        opt.step()
        return loss
    return step


def lsp_case():
    """LSP loss (Yang et al. 2020) with the RBF score, sigma 1, forward + backward on cora_edges (row = destination):
    per edge score -||z_dst - z_src||^2 / 2, log-softmax over each destination's in-edges (scatter max + index_add,
    PyG's softmax pattern), KL(teacher || student) summed per node, mean over nodes with an in-edge. Teacher
    features [2708, 1024] under no_grad, student [2708, 136], standard normal / sqrt(width); gradient w.r.t. the student."""
    n, dt, ds, sigma = 2708, 1024, 136, 1.0
    idx = cora_edges(n)
    dst, src = idx[0], idx[1]
    g = torch.Generator().manual_seed(1234)
    zt = torch.randn(n, dt, generator=g) / math.sqrt(dt)
    zs = (torch.randn(n, ds, generator=g) / math.sqrt(ds)).requires_grad_()
    has = torch.zeros(n, dtype=torch.int64).index_add_(0, dst, torch.ones_like(dst)) > 0

    def log_local_structure(z):
        s = -((z[dst] - z[src]) ** 2).sum(1) / (2 * sigma ** 2)
        m = torch.full((n,), float("-inf")).scatter_reduce(0, dst, s.detach(), reduce="amax", include_self=True)
        shifted = s - m[dst]
        return shifted - torch.zeros(n).index_add_(0, dst, shifted.exp()).log()[dst]

    def step():
        with torch.no_grad():
            lpt = log_local_structure(zt)
        lps = log_local_structure(zs)
        kl = torch.zeros(n).index_add(0, dst, lpt.exp() * (lpt - lps))
        loss = kl[has].mean()
        grad, = torch.autograd.grad(loss, zs)
        return grad
    return step


def _epoch(name):
    def setup():
        import epoch_cases
        return epoch_cases.CASES[name](DATA_ROOT[0])
    return setup


DATA_ROOT = [None]

CASES = {
    "gemm_2708x1433x64": gemm_case(2708, 1433, 64),
    "gemm_56944x50x256": gemm_case(56944, 50, 256),
    "gemm_1024x1024x1024": gemm_case(1024, 1024, 1024),
    "spmm_56944x256": spmm_case,
    "gcn_step_cora": gcn_step_case,
    "lsp_rbf_cora_1024x136": lsp_case,
    "epoch_gcn_cora": _epoch("epoch_gcn_cora"),
    "epoch_gat_cora": _epoch("epoch_gat_cora"),
    "epoch_gin5_64_proteins": _epoch("epoch_gin5_64_proteins"),
    "gfkd_iteration_mutag": lambda: __import__("gfkd_iteration").gfkd_iteration_mutag(),
}


# ---- timing ------------------------------------------------------------------------------------------------------

def measure(action, runs, warmup_s=0.5):
    """Warm up (at least 3 calls and ~warmup_s seconds, at most 200 calls), then time `runs` calls; milliseconds."""
    t0 = time.perf_counter()
    calls = 0
    while calls < 3 or (time.perf_counter() - t0 < warmup_s and calls < 200):
        action()
        calls += 1
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        action()
        times.append((time.perf_counter() - t) * 1000.0)
    s = sorted(times)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])
    return {"median_ms": median, "min_ms": s[0], "runs": len(s)}


def blas_info():
    """BLAS_INFO from torch's build configuration, and the BLAS library actually mapped into this process."""
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    torch.randn(64, 64) @ torch.randn(64, 64)  # make sure the BLAS is loaded
    libs = set()
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split()[-1]
                if re.search(r"(blas|mkl)", os.path.basename(path), re.I) and path.startswith("/"):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return {"blas_info": m.group(1) if m else "unknown", "blas_libraries": sorted(libs)}


def write_atomic(path, obj):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="write results to this file (atomically)")
    ap.add_argument("--case", action="append", help="run only this case (repeatable; substring match)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per case (>= 5)")
    ap.add_argument("--threads", type=int, default=THREADS, help="torch.set_num_threads (default 2, as GcnKd on this machine)")
    ap.add_argument("--data", help="data root for the epoch_* cases (default: $GCNKD_DATA, else ./data)")
    args = ap.parse_args(argv)
    DATA_ROOT[0] = args.data or os.environ.get("GCNKD_DATA") or "data"
    if args.runs < 5:
        ap.error("--runs must be at least 5")
    torch.set_num_threads(args.threads)
    names = [n for n in CASES if not args.case or any(c in n for c in args.case)]
    if not names:
        ap.error("no case matches %s; cases: %s" % (args.case, ", ".join(CASES)))
    info = blas_info()
    results = []
    print("%-24s %10s %10s %5s" % ("case", "median ms", "min ms", "runs"))
    for name in names:
        try:
            action = CASES[name]()
        except FileNotFoundError as e:
            sys.exit("torch_reference: case %s needs data: %s (data root %s; set GCNKD_DATA or --data)" % (name, e, DATA_ROOT[0]))
        r = dict(name=name, **measure(action, args.runs))
        results.append(r)
        print("%-24s %10.3f %10.3f %5d" % (name, r["median_ms"], r["min_ms"], r["runs"]), flush=True)
    doc = {
        "tool": "torch",
        "version": torch.__version__,
        "threads": args.threads,
        "blas": "%s (%s)" % (info["blas_info"], ", ".join(info["blas_libraries"]) or "no BLAS library found"),
        "machine": "%s, %s" % (platform.machine(), platform.processor() or platform.platform()),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
    }
    if args.json:
        write_atomic(args.json, doc)
    print("torch %s, BLAS: %s" % (doc["version"], doc["blas"]))
    if args.json:
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
