"""Golden values for GcnKd's distillation losses, computed with plain PyTorch (no PyG/DGL).

Writes tests/fixtures/distill.json:
- LSP (Yang et al. 2020) on a small random directed graph with self-loops and nodes without in-edges, for every
  score function (rbf sigma 1.5, linear, poly c 0.5 d 3, sqdist, l1exp tau 100 and tau 3, rbf-auto with
  sigma^2 = 0.7 x the mean squared edge distance of each side): the loss
  mean_{i: deg_in(i) > 0} KL(LS^t_i || LS^s_i), its gradient w.r.t. the student features, and the teacher's
  per-edge distribution (edges sorted by (destination, source) = GcnKd's CSR order);
- the dynamic-graph form on the deduplicated union of two random k-NN-like graphs (rbf and rbf-auto);
- Hinton KD (softmax form with T^2, alone and mixed with CE; sigmoid form with T^2, alone and mixed with BCE);
- FitNet (linear regressor + MSE; gradients w.r.t. the student features, W and b);
- attention transfer (p = 2 and p = 3: map, loss and gradient).
Values and gradients are computed in float64 from the stored float32 inputs, so the tests measure GcnKd's error.
Run: /usr/bin/python3 experiments/reference/distill_losses.py   (torch 1.13)
"""
import json
import os
import warnings

import torch
import torch.nn.functional as F

# torch 1.13 flags scatter_reduce as beta on every call
warnings.filterwarnings("ignore", message="scatter_reduce\\(\\) is in beta")
torch.set_num_threads(2)
torch.manual_seed(20261124)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")


def t(x):
    x = x.detach().to(torch.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def f64(x):
    """The float32 value as a float64 leaf (inputs are stored as float32, golden values computed in double)."""
    return x.detach().to(torch.float32).to(torch.float64).requires_grad_()


# ---- LSP -----------------------------------------------------------------------------------------------------------

def scores(kind, z, dst, src):
    """score(z_dst, z_src) per edge."""
    x, y = z[dst], z[src]
    name, param = kind
    if name == "rbf":
        return -((x - y) ** 2).sum(1) / (2 * param ** 2)
    if name == "rbf_auto":
        # sigma^2 = param * mean squared edge distance of this side (the gradient flows through the mean)
        sq = ((x - y) ** 2).sum(1)
        return -sq / (2 * param * sq.mean())
    if name == "linear":
        return (x * y).sum(1)
    if name == "poly":
        c, d = param
        return ((x * y).sum(1) + c) ** d
    if name == "sqdist":
        return -((x - y) ** 2).sum(1)
    if name == "l1exp":
        return torch.exp(-(x - y).abs().sum(1) / param)
    raise ValueError(name)


def segment_log_softmax(s, dst, n):
    """log softmax over the edges sharing a destination (max subtracted; the max is a constant for the gradient)."""
    m = torch.full((n,), float("-inf"), dtype=s.dtype).scatter_reduce(0, dst, s.detach(), reduce="amax", include_self=True)
    shifted = s - m[dst]
    z = torch.zeros(n, dtype=s.dtype).index_add(0, dst, shifted.exp())
    return shifted - z.log()[dst]


def lsp(kind, dst, src, n, zt, zs):
    lpt = segment_log_softmax(scores(kind, zt.detach(), dst, src), dst, n)
    lps = segment_log_softmax(scores(kind, zs, dst, src), dst, n)
    kl = torch.zeros(n, dtype=zs.dtype).index_add(0, dst, lpt.exp() * (lpt - lps))
    has = torch.zeros(n, dtype=torch.int64).index_add(0, dst, torch.ones_like(dst)) > 0
    return kl[has].mean(), lpt.exp()


def sorted_edges(pairs):
    """(dst, src) lists sorted by (dst, src), duplicates removed."""
    pairs = sorted(set(pairs))
    return [p[0] for p in pairs], [p[1] for p in pairs]


def random_graph(n, m, loops, no_in):
    pairs = set()
    while len(pairs) < m:
        d, s = int(torch.randint(0, n, ())), int(torch.randint(0, n, ()))
        if d not in no_in and d != s:
            pairs.add((d, s))
    for i in loops:
        pairs.add((i, i))
    return sorted_edges(pairs)


def knn_like(n, k):
    """Every node gets k distinct sources (itself possibly among them): the shape of a k-NN graph."""
    pairs = [(i, int(j)) for i in range(n) for j in torch.randperm(n)[:k]]
    return sorted_edges(pairs)


SCORES = {
    "rbf": ("rbf", 1.5),
    "linear": ("linear", None),
    "poly": ("poly", (0.5, 3)),
    "sqdist": ("sqdist", None),
    "l1exp100": ("l1exp", 100.0),
    "l1exp3": ("l1exp", 3.0),
    "rbfauto": ("rbf_auto", 0.7),
}


def lsp_fixtures():
    out = {}
    n = 11
    dst, src = random_graph(n, 30, loops=[0, 2, 3, 5, 8], no_in={9, 10})
    out["lsp_n"], out["lsp_dst"], out["lsp_src"] = n, dst, src
    dt, ds = torch.tensor(dst), torch.tensor(src)
    zt, zs = f64(torch.randn(n, 20) * 0.4), f64(torch.randn(n, 7) * 0.6)
    out["lsp_teacher"], out["lsp_student"] = t(zt), t(zs)
    for key, kind in SCORES.items():
        loss, pt = lsp(kind, dt, ds, n, zt, zs)
        g, = torch.autograd.grad(loss, zs)
        out[f"lsp_{key}_loss"], out[f"lsp_{key}_grad"], out[f"lsp_{key}_dist_teacher"] = t(loss), t(g), t(pt)

    # dynamic graphs: both distributions on the deduplicated union of the two k-NN edge sets
    n2 = 13
    tdst, tsrc = knn_like(n2, 3)
    sdst, ssrc = knn_like(n2, 4)
    both = torch.cat([torch.tensor([tdst, tsrc]), torch.tensor([sdst, ssrc])], 1)
    uni = torch.unique(both[0] * n2 + both[1])  # sorted by (dst, src)
    udst, usrc = uni // n2, uni % n2
    zt2, zs2 = f64(torch.randn(n2, 16) * 0.4), f64(torch.randn(n2, 5) * 0.6)
    loss, _ = lsp(SCORES["rbf"], udst, usrc, n2, zt2, zs2)
    g, = torch.autograd.grad(loss, zs2)
    out.update({"union_n": n2, "union_t_dst": tdst, "union_t_src": tsrc, "union_s_dst": sdst, "union_s_src": ssrc,
                "union_dst": udst.tolist(), "union_src": usrc.tolist(),
                "union_teacher": t(zt2), "union_student": t(zs2), "union_rbf_loss": t(loss), "union_rbf_grad": t(g)})
    loss, _ = lsp(SCORES["rbfauto"], udst, usrc, n2, zt2, zs2)
    g, = torch.autograd.grad(loss, zs2)
    out.update({"union_rbfauto_loss": t(loss), "union_rbfauto_grad": t(g)})
    return out


# ---- KD, FitNet, AT ------------------------------------------------------------------------------------------------

def baseline_fixtures():
    out = {}
    # softmax KD: T^2 KL(softmax(t/T) || softmax(s/T)); mixed (1 - alpha) CE + alpha * that
    T, alpha = 4.0, 0.7
    te, st = f64(torch.randn(6, 5) * 3), f64(torch.randn(6, 5) * 3)
    labels = torch.randint(0, 5, (6,))
    soft = F.kl_div(F.log_softmax(st / T, 1), F.softmax(te.detach() / T, 1), reduction="batchmean") * T * T
    g, = torch.autograd.grad(soft, st, retain_graph=True)
    mix = (1 - alpha) * F.cross_entropy(st, labels) + alpha * soft
    gm, = torch.autograd.grad(mix, st)
    out.update({"kd_teacher": t(te), "kd_student": t(st), "kd_labels": labels.tolist(), "kd_T": T, "kd_alpha": alpha,
                "kd_soft_loss": t(soft), "kd_soft_grad": t(g), "kd_mix_loss": t(mix), "kd_mix_grad": t(gm)})

    # sigmoid KD for multi-label: T^2 BCE-with-logits(s/T, sigmoid(t/T)); mixed with BCE on 0/1 targets
    T, alpha = 2.0, 0.6
    te, st = f64(torch.randn(6, 9) * 3), f64(torch.randn(6, 9) * 3)
    y = (torch.rand(6, 9) < 0.3).to(torch.float64)
    sig = F.binary_cross_entropy_with_logits(st / T, torch.sigmoid(te.detach() / T)) * T * T
    g, = torch.autograd.grad(sig, st, retain_graph=True)
    mix = (1 - alpha) * F.binary_cross_entropy_with_logits(st, y) + alpha * sig
    gm, = torch.autograd.grad(mix, st)
    out.update({"kds_teacher": t(te), "kds_student": t(st), "kds_targets": t(y), "kds_T": T, "kds_alpha": alpha,
                "kds_loss": t(sig), "kds_grad": t(g), "kds_mix_loss": t(mix), "kds_mix_grad": t(gm)})

    # FitNet: MSE(student W + b, teacher), W stored [in, out] as GcnKd's Linear
    n = 11
    zt, zs = f64(torch.randn(n, 20)), f64(torch.randn(n, 7))
    w, b = f64(torch.randn(7, 20) * 0.3), f64(torch.randn(20) * 0.1)
    fit = F.mse_loss(zs @ w + b, zt.detach())
    gs, gw, gb = torch.autograd.grad(fit, (zs, w, b))
    out.update({"fit_teacher": t(zt), "fit_student": t(zs), "fit_w": t(w), "fit_b": t(b), "fit_loss": t(fit),
                "fit_grad_student": t(gs), "fit_grad_w": t(gw), "fit_grad_b": t(gb)})

    # attention transfer (Zagoruyko & Komodakis): map = normalize(mean_c |z|^p) over nodes; MSE of the maps
    zt, zs = f64(torch.randn(n, 20)), f64(torch.randn(n, 7))
    out["at_teacher"], out["at_student"] = t(zt), t(zs)
    for p in (2, 3):
        def at(z):
            return F.normalize(z.abs().pow(p).mean(1), dim=0)
        loss = F.mse_loss(at(zs), at(zt.detach()))
        g, = torch.autograd.grad(loss, zs)
        out[f"at_p{p}_map_student"], out[f"at_p{p}_loss"], out[f"at_p{p}_grad"] = t(at(zs)), t(loss), t(g)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    data = {"generator": "experiments/reference/distill_losses.py", "torch": torch.__version__}
    data.update(lsp_fixtures())
    data.update(baseline_fixtures())
    path = os.path.join(OUT, "distill.json")
    with open(path, "w") as f:
        json.dump(data, f)
    for key in SCORES:
        print("lsp %-9s loss %.6g" % (key, data[f"lsp_{key}_loss"]["data"][0]))
    print("union rbf loss %.6g" % data["union_rbf_loss"]["data"][0])
    print("wrote", path)


if __name__ == "__main__":
    main()
