"""gfkd_iteration_mutag: one GFKD generation iteration in plain PyTorch, the same work as
BenchCases.gfkdIteration (src/Core.FSharp/Bench/BenchCases.fs) and FakeGraphFitting.step.

131 MUTAG-sized fake graphs (node counts 10 + (7 g) mod 20, labels g mod 2, 7 learned features, 2 classes), one
Bernoulli logit per unordered node pair, against a frozen GCN5_64 teacher (GfkdFamily.fs: self-loops, symmetric
normalisation, 4 layers of Linear 64 + batch norm (eval) + ReLU, residuals from the second, sum pooling, linear head).
One iteration, as released and as GcnKd runs it with its default settings (standardized BN prior, lambda_BN 0.01,
lambda_H 1e-6, density prior weight 5 at 0.14):
  1. feature step: the mode structure 1[theta >= 0], softmax features, teacher forward, mean CE + lambda_BN R_BN
     + lambda_H entropy, backward to the feature logits, Adam (lr 0.01);
  2. ARM: u ~ U(0, 1) per pair, the antithetic samples 1[u > sigmoid(-theta)] and 1[u < sigmoid(theta)], two teacher
     forwards without gradient, per graph CE + lambda_BN R_BN + 5 (density - 0.14)^2, gradient
     (f1 - f2)(u - 1/2) per pair, Adam on theta (lr 1.0).
R_BN = sum over the batch norms of ||(mean - running mean) / sqrt(running var + 1e-5)||_2
     + ||(biased var - running var) / (running var + 1e-5)||_2 (GfkdPriors.batchNormWith Standardized).
Message passing uses index_add_ over per-edge gathers (PyG's scatter style), as the other graph cases here.
"""
import math

import torch
import torch.nn.functional as F


def gfkd_counts():
    return [10 + (7 * g) % 20 for g in range(131)]


def gfkd_iteration_mutag():
    torch.manual_seed(0)
    counts = gfkd_counts()
    n_graphs, width, feats, classes = len(counts), 64, 7, 2
    target, bn_w, ent_w, dens_w = 0.14, 0.01, 1e-6, 5.0
    # pair variables: global endpoints and owning graph
    pi, pj, owner, offsets = [], [], [], []
    off = 0
    for g, n in enumerate(counts):
        offsets.append(off)
        for i in range(n):
            for j in range(i + 1, n):
                pi.append(off + i)
                pj.append(off + j)
                owner.append(g)
        off += n
    N = off
    pi, pj, owner = torch.tensor(pi), torch.tensor(pj), torch.tensor(owner)
    pairs_per_graph = torch.tensor([n * (n - 1) / 2 for n in counts])
    node_graph = torch.repeat_interleave(torch.arange(n_graphs), torch.tensor(counts))
    labels = torch.arange(n_graphs) % 2
    loops = torch.arange(N)

    # the frozen teacher (random weights; timing does not depend on them)
    def glorot(i, o):
        a = math.sqrt(6.0 / (i + o))
        return (torch.rand(i, o) * 2 - 1) * a
    layers = [dict(w=glorot(feats if l == 0 else width, width), b=torch.zeros(width), g=torch.ones(width), be=torch.zeros(width),
                   rm=torch.zeros(width), rv=torch.ones(width)) for l in range(4)]
    bound = 1.0 / math.sqrt(width)
    head_w, head_b = (torch.rand(width, classes) * 2 - 1) * bound, (torch.rand(classes) * 2 - 1) * bound

    def teacher(mask, x):
        src = torch.cat([pi[mask], pj[mask], loops])
        dst = torch.cat([pj[mask], pi[mask], loops])
        deg = torch.zeros(N).index_add_(0, dst, torch.ones(dst.shape[0]))
        dinv = deg.rsqrt()
        norm = (dinv[src] * dinv[dst]).unsqueeze(1)

        def propagate(h):
            return torch.zeros(N, h.shape[1]).index_add_(0, dst, h[src] * norm)
        h, norms = x, []
        for l, p in enumerate(layers):
            z = (propagate(h) @ p["w"] if l == 0 else propagate(h @ p["w"])) + p["b"]   # Gcn.convWith's order
            norms.append((z, p))
            out = torch.relu(F.batch_norm(z, p["rm"], p["rv"], p["g"], p["be"], False, 0.1, 1e-5))
            h = out if l == 0 else out + h
        pooled = torch.zeros(n_graphs, width).index_add_(0, node_graph, h)
        return torch.addmm(head_b, pooled, head_w), norms

    def bn_prior(norms):
        total = 0.0
        for z, p in norms:
            mu = z.mean(0)
            var = ((z - mu) ** 2).mean(0)
            v = p["rv"] + 1e-5
            total = total + ((((mu - p["rm"]) / v.sqrt()) ** 2).sum() + 1e-12).sqrt() + ((((var - p["rv"]) / v) ** 2).sum() + 1e-12).sqrt()
        return total

    u0 = torch.rand(pi.shape[0]).clamp(1e-6, 1 - 1e-6)
    theta = (torch.log(u0 / (1 - u0)) + math.log(target / (1 - target))).requires_grad_()
    feat = torch.randn(N, feats).requires_grad_()
    opt_theta = torch.optim.Adam([theta], lr=1.0)
    opt_feat = torch.optim.Adam([feat], lr=0.01)

    def objective(mask, x):
        logits, norms = teacher(mask, x)
        ce = F.cross_entropy(logits, labels, reduction="none")
        density = torch.zeros(n_graphs).index_add_(0, owner, mask.float()) / pairs_per_graph
        return ce + bn_w * bn_prior(norms) + dens_w * (density - target) ** 2

    def step():
        # 1. features on the mode structure, by back-propagation
        opt_feat.zero_grad()
        mode = theta.detach() >= 0
        logits, norms = teacher(mode, torch.softmax(feat, 1))
        p = torch.softmax(feat, 1)
        entropy = -(p * torch.log_softmax(feat, 1)).sum() / N
        loss = F.cross_entropy(logits, labels) + bn_w * bn_prior(norms) + ent_w * entropy
        loss.backward()
        opt_feat.step()
        # 2. ARM on the structure, forward passes only
        with torch.no_grad():
            x = torch.softmax(feat, 1)
            th = theta.detach()
            u = torch.rand(th.shape[0])
            f1 = objective(u > torch.sigmoid(-th), x)
            f2 = objective(u < torch.sigmoid(th), x)
            grad = (f1 - f2)[owner] * (u - 0.5)
        opt_theta.zero_grad()
        theta.grad = grad
        opt_theta.step()
        return loss
    return step


CASES = {"gfkd_iteration_mutag": gfkd_iteration_mutag}
