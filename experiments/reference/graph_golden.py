"""Golden values for GcnKd's graph composites, computed with plain PyTorch (no PyG/DGL).

Writes tests/fixtures/gcn.json (a 2-layer GCN forward, masked cross-entropy and all gradients) and
tests/fixtures/segment_softmax.json (softmax over the in-edges of each node, one and two heads).
Run: /usr/bin/python3 experiments/reference/graph_golden.py   (Debian's python3-torch, torch 1.13)
"""
import json
import os
import torch

torch.set_num_threads(2)
torch.manual_seed(20261122)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")


def t(x):
    x = x.detach().to(torch.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def random_graph(n, m):
    """Undirected random graph with some isolated nodes; returns sorted (dst, src) pairs incl. self-loops."""
    src = torch.randint(0, n - 2, (m,))  # the last two nodes stay isolated apart from self-loops
    dst = torch.randint(0, n - 2, (m,))
    pairs = set()
    for s, d in zip(src.tolist(), dst.tolist()):
        if s != d:
            pairs.add((d, s))
            pairs.add((s, d))
    for i in range(n):
        pairs.add((i, i))
    return sorted(pairs)


def csr(n, pairs, values):
    rowptr = [0] * (n + 1)
    for d, _ in pairs:
        rowptr[d + 1] += 1
    for i in range(n):
        rowptr[i + 1] += rowptr[i]
    return rowptr, [s for _, s in pairs], values


def gcn():
    n, f, h, c = 12, 10, 8, 3
    pairs = random_graph(n, 18)
    deg = torch.zeros(n)
    for d, _ in pairs:
        deg[d] += 1
    vals = torch.tensor([float(deg[d] ** -0.5 * deg[s] ** -0.5) for d, s in pairs])
    rowptr, col, _ = csr(n, pairs, vals)
    A = torch.sparse_coo_tensor(torch.tensor([[d for d, _ in pairs], [s for _, s in pairs]]), vals, (n, n))
    X = torch.randn(n, f, requires_grad=True)
    W1 = (torch.randn(f, h) * 0.5).requires_grad_()
    b1 = (torch.randn(h) * 0.1).requires_grad_()
    W2 = (torch.randn(h, c) * 0.5).requires_grad_()
    b2 = (torch.randn(c) * 0.1).requires_grad_()
    labels = torch.randint(0, c, (n,))
    train = torch.tensor([0, 2, 3, 5, 7, 8, 10])
    hidden = torch.relu(torch.sparse.mm(A, X @ W1) + b1)
    out = torch.sparse.mm(A, hidden @ W2) + b2
    loss = torch.nn.functional.cross_entropy(out[train], labels[train])
    loss.backward()
    return {
        "rowptr": rowptr, "col": col, "values": t(vals), "labels": labels.tolist(), "train": train.tolist(),
        "x": t(X), "w1": t(W1), "b1": t(b1), "w2": t(W2), "b2": t(b2),
        "hidden": t(hidden), "out": t(out), "loss": float(loss),
        "grad_x": t(X.grad), "grad_w1": t(W1.grad), "grad_b1": t(b1.grad), "grad_w2": t(W2.grad), "grad_b2": t(b2.grad),
    }


def segment_softmax():
    n = 9
    pairs = random_graph(n, 14)
    dst = torch.tensor([d for d, _ in pairs])
    rowptr, col, _ = csr(n, pairs, None)
    res = {"rowptr": rowptr, "col": col}
    for heads, name in ((None, "h1"), (2, "h2")):
        shape = (len(pairs),) if heads is None else (len(pairs), heads)
        s = (torch.randn(*shape) * 3).requires_grad_()
        idx = dst if heads is None else dst.unsqueeze(1).expand(-1, heads)
        mx = torch.full((n,) + shape[1:], -1e30).scatter_reduce(0, idx, s, reduce="amax", include_self=True)
        e = torch.exp(s - mx.gather(0, idx))
        z = torch.zeros((n,) + shape[1:]).scatter_add(0, idx, e)
        p = e / z.gather(0, idx)
        v = torch.randn(*shape)
        (p * v).sum().backward()
        res[name] = {"scores": t(s), "softmax": t(p), "cotangent": t(v), "grad": t(s.grad)}
    return {"rowptr": res["rowptr"], "col": res["col"],
            **{f"{k}_{h}": v for h in ("h1", "h2") for k, v in res[h].items()}}


def write(name, obj):
    path = os.path.join(OUT, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"generator": "experiments/reference/graph_golden.py", "torch": torch.__version__, **obj}, fh)
    os.replace(tmp, path)
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    write("gcn.json", gcn())
    write("segment_softmax.json", segment_softmax())
