"""The epoch_* benchmark cases in plain PyTorch: one training epoch of GcnKd's GCN and GAT on Cora and of GIN5_64
on PROTEINS, each mirroring the F# model op for op (src/Core.FSharp/Models/Gcn.fs, Gat.fs, GfkdFamily.fs, Gin.fs,
Mlp.fs) and the F# trainers' steps (src/Core.FSharp/Train/NodeTrainer.fs, GraphTrainer.fs, Registry.fs presets).
Used by torch_reference.py (same timing method); each entry of CASES takes the data root and returns the timed
action. Needs numpy and scipy (Cora's Planetoid pickles hold scipy sparse matrices).

What one timed call includes, on both sides:
  node models  forward in training mode (dropout), cross-entropy on the 140 training nodes, backward, Adam step.
  GIN5_64      a shuffled order of all 1113 graphs, then per batch of 32: batching the pre-built per-graph tensors
               (node features, edge lists; block-diagonal offsets, self-loops and the node->graph map built per batch,
               as GcnKd's Graph.batch + GfkdFamily.prepareBatch), forward, cross-entropy, backward, Adam step.
Data preparation done once outside the timed calls on both sides: reading the files, feature normalisation, the
GCN normalisation / GAT self-loops of Cora's adjacency.
"""
import math
import os
import pickle

import numpy as np
import torch
import torch.nn.functional as F


# ---- data -----------------------------------------------------------------------------------------------------

def load_cora(root):
    """Planetoid Cora as GcnKd's Planetoid.Load(normalizeFeatures=true): features of allx then tx placed at the
    test indices, row-normalised; labels by argmax; symmetric de-duplicated adjacency without self-loops; train
    nodes 0..139. Returns (x [n, f] float32, labels int64 [n], train int64 [140], rows, cols) of the adjacency."""
    d = os.path.join(root, "Cora")

    def part(name):
        path = os.path.join(d, "ind.cora.%s" % name)
        if name == "test.index":
            with open(path) as fh:
                return [int(line) for line in fh if line.strip()]
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")

    x, y, tx, ty, allx, ally, graph, test_index = (part(p) for p in ["x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"])
    n = allx.shape[0] + (max(test_index) - allx.shape[0] + 1)
    feats = np.zeros((n, allx.shape[1]), dtype=np.float32)
    labels = np.zeros(n, dtype=np.int64)
    feats[: allx.shape[0]] = allx.toarray()
    labels[: allx.shape[0]] = np.argmax(ally, axis=1)
    feats[test_index] = tx.toarray()
    labels[test_index] = np.argmax(ty, axis=1)
    s = feats.sum(axis=1, keepdims=True)
    feats = np.where(s != 0, feats / np.where(s == 0, 1, s), feats).astype(np.float32)
    edges = set()
    for i, nbrs in graph.items():
        for j in nbrs:
            if i != j:
                edges.add((i, j))
                edges.add((j, i))
    e = np.array(sorted(edges), dtype=np.int64).T
    return torch.from_numpy(feats), torch.from_numpy(labels), torch.arange(y.shape[0]), torch.from_numpy(e[0]), torch.from_numpy(e[1])


def load_proteins(root):
    """PROTEINS in the GIN text format as GcnKd's GinFormat.Load: one-hot node tags (numbered in order of first
    appearance), symmetric de-duplicated edges without self-loops, labels numbered in sorted order of the raw
    values. Returns a list of (x [n, tags] float32, src int64, dst int64, label int)."""
    path = os.path.join(root, "PROTEINS", "gin_format", "PROTEINS.txt")
    with open(path) as fh:
        lines = [l.split() for l in fh if l.strip()]
    num = int(lines[0][0])
    pos = 1
    raw = []
    tag_index = {}
    for _ in range(num):
        n, label = int(lines[pos][0]), int(lines[pos][1])
        pos += 1
        tags = []
        edges = set()
        for j in range(n):
            f = lines[pos]
            pos += 1
            tag, m = int(f[0]), int(f[1])
            tags.append(tag_index.setdefault(tag, len(tag_index)))
            for k in range(m):
                nb = int(f[2 + k])
                if nb != j:
                    edges.add((j, nb))
                    edges.add((nb, j))
        raw.append((n, label, tags, sorted(edges)))
    label_ids = {v: i for i, v in enumerate(sorted({r[1] for r in raw}))}
    width = len(tag_index)
    graphs = []
    for n, label, tags, edges in raw:
        x = torch.zeros(n, width)
        x[torch.arange(n), torch.tensor(tags)] = 1.0
        e = torch.tensor(edges, dtype=torch.int64).reshape(-1, 2).t()
        graphs.append((x, e[1].contiguous(), e[0].contiguous(), label_ids[label]))  # row = destination
    return graphs, width, len(label_ids)


# ---- shared pieces --------------------------------------------------------------------------------------------

def glorot(fan_in, fan_out, shape):
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return ((torch.rand(*shape) * 2 - 1) * a).requires_grad_()


def torch_linear(fan_in, fan_out):
    """torch.nn.Linear's init, weight stored [in, out] as GcnKd's Linear (x W + b)."""
    b = 1.0 / math.sqrt(fan_in)
    return ((torch.rand(fan_in, fan_out) * 2 - 1) * b).requires_grad_(), ((torch.rand(fan_out) * 2 - 1) * b).requires_grad_()


def node_epoch(params, forward, labels, train, lr, wd):
    opt = torch.optim.Adam(params, lr=lr, weight_decay=wd)
    y = labels[train]

    def epoch():
        opt.zero_grad()
        loss = F.cross_entropy(forward()[train], y)
        loss.backward()
        opt.step()
    return epoch


# ---- GCN (Gcn.fs): dropout on every layer's input, A_hat (H W) + b, ReLU between layers ------------------------------

def gcn_cora(root):
    torch.manual_seed(0)
    x, labels, train, rows, cols = load_cora(root)
    n, f = x.shape
    loops = torch.arange(n)
    r, c = torch.cat([rows, loops]), torch.cat([cols, loops])
    deg = torch.zeros(n).index_add_(0, r, torch.ones(r.shape[0]))
    dinv = deg.pow(-0.5)
    adj = torch.sparse_coo_tensor(torch.stack([r, c]), dinv[r] * dinv[c], (n, n)).coalesce()  # D^-1/2 (A + I) D^-1/2
    w1, w2 = glorot(f, 16, (f, 16)), glorot(16, 7, (16, 7))
    b1, b2 = torch.zeros(16, requires_grad=True), torch.zeros(7, requires_grad=True)

    def forward():
        h = torch.relu(torch.sparse.mm(adj, F.dropout(x, 0.5, True) @ w1) + b1)
        return torch.sparse.mm(adj, F.dropout(h, 0.5, True) @ w2) + b2
    return node_epoch([w1, b1, w2, b2], forward, labels, train, 0.01, 5e-4)


# ---- GAT (Gat.fs, Gat.cora): per-node scores, per-edge LeakyReLU(0.2), softmax over in-edges by scatter -------------

def gat_conv(x, w, a_src, a_dst, bias, dst, src, n, heads, width, concat):
    xd = F.dropout(x, 0.6, True)
    wh = (xd @ w).view(n, heads, width)
    s_src = (wh * a_src).sum(-1)                                   # [n, H]
    s_dst = (wh * a_dst).sum(-1)
    e = F.leaky_relu(s_dst[dst] + s_src[src], 0.2)                 # [nnz, H]
    e_max = torch.full((n, heads), -math.inf).scatter_reduce(0, dst[:, None].expand(-1, heads), e.detach(), "amax", include_self=True)
    ex = (e - e_max[dst]).exp()
    denom = torch.zeros(n, heads).index_add_(0, dst, ex)
    alpha = ex / denom[dst]
    alpha = F.dropout(alpha, 0.6, True)
    out = torch.zeros(n, heads, width).index_add_(0, dst, alpha.unsqueeze(-1) * wh[src])
    out = out.reshape(n, heads * width) if concat else out.mean(1)
    return out + bias


def gat_cora(root):
    torch.manual_seed(0)
    x, labels, train, rows, cols = load_cora(root)
    n, f = x.shape
    loops = torch.arange(n)
    dst, src = torch.cat([rows, loops]), torch.cat([cols, loops])
    order = torch.argsort(dst * n + src)                           # CSR order (row = destination)
    dst, src = dst[order], src[order]
    H, Fh, C = 8, 8, 7
    w1, as1, ad1 = glorot(f, H * Fh, (f, H * Fh)), glorot(H, Fh, (H, Fh)), glorot(H, Fh, (H, Fh))
    w2, as2, ad2 = glorot(H * Fh, C, (H * Fh, C)), glorot(1, C, (1, C)), glorot(1, C, (1, C))
    b1, b2 = torch.zeros(H * Fh, requires_grad=True), torch.zeros(C, requires_grad=True)

    def forward():
        h = F.elu(gat_conv(x, w1, as1, ad1, b1, dst, src, n, H, Fh, True))
        return gat_conv(h, w2, as2, ad2, b2, dst, src, n, 1, C, False)
    return node_epoch([w1, as1, ad1, b1, w2, as2, ad2, b2], forward, labels, train, 0.005, 5e-4)


# ---- GIN5_64 (GfkdFamily.fs, Gin.fs, Mlp.fs) -------------------------------------------------------------------------

def gin5_64_proteins(root):
    torch.manual_seed(0)
    graphs, width_in, classes = load_proteins(root)
    W, L = 64, 4
    layers = []
    for l in range(L):
        i = width_in if l == 0 else W
        w1, c1 = torch_linear(i, W)
        w2, c2 = torch_linear(W, W)
        layers.append(dict(w1=w1, c1=c1, g1=torch.ones(W, requires_grad=True), be1=torch.zeros(W, requires_grad=True),
                           rm1=torch.zeros(W), rv1=torch.ones(W),
                           w2=w2, c2=c2, g2=torch.ones(W, requires_grad=True), be2=torch.zeros(W, requires_grad=True),
                           rm2=torch.zeros(W), rv2=torch.ones(W)))
    head_w, head_b = torch_linear(W, classes)
    params = [t for ly in layers for k, t in ly.items() if t.requires_grad] + [head_w, head_b]
    opt = torch.optim.Adam(params, lr=0.01, weight_decay=0.0)
    sizes = torch.tensor([g[0].shape[0] for g in graphs])

    def batch(idx):
        xs, srcs, dsts = [], [], []
        off = 0
        for i in idx:
            x, s, d, _ = graphs[i]
            xs.append(x)
            srcs.append(s + off)
            dsts.append(d + off)
            off += x.shape[0]
        loops = torch.arange(off)                                   # GfkdFamily.prepare: SelfLoops = true
        node_graph = torch.repeat_interleave(torch.arange(len(idx)), sizes[idx])
        y = torch.tensor([graphs[i][3] for i in idx])
        return torch.cat(xs), torch.cat(srcs + [loops]), torch.cat(dsts + [loops]), node_graph, y

    def forward(x, src, dst, node_graph, num_graphs):
        h = x
        for l, p in enumerate(layers):
            agg = torch.zeros_like(h).index_add_(0, dst, h[src]) + h   # GIN-0 on A + I: 2 h_i + sum_j h_j
            z = torch.addmm(p["c1"], agg, p["w1"])
            z = torch.relu(F.batch_norm(z, p["rm1"], p["rv1"], p["g1"], p["be1"], True, 0.1, 1e-5))
            z = torch.addmm(p["c2"], z, p["w2"])
            out = torch.relu(F.batch_norm(z, p["rm2"], p["rv2"], p["g2"], p["be2"], True, 0.1, 1e-5))
            h = out if l == 0 else out + h
        pooled = torch.zeros(num_graphs, W).index_add_(0, node_graph, h)
        return F.dropout(torch.addmm(head_b, pooled, head_w), 0.5, True)

    def epoch():
        order = torch.randperm(len(graphs))
        for idx in torch.split(order, 32):
            x, src, dst, node_graph, y = batch(idx.tolist())
            opt.zero_grad()
            loss = F.cross_entropy(forward(x, src, dst, node_graph, len(idx)), y)
            loss.backward()
            opt.step()
    return epoch


CASES = {
    "epoch_gcn_cora": gcn_cora,
    "epoch_gat_cora": gat_cora,
    "epoch_gin5_64_proteins": gin5_64_proteins,
}
