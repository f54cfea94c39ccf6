"""Golden values for conv2d / max_pool2d / avg_pool2d and batch norm (PyTorch 1.13, CPU, float32).

Writes tests/fixtures/conv_pool.json as {"name": {"shape": [...], "data": [...]}, ...}; read by tests/ConvTests.fs
and tests/NnOpsTests.fs. Run from the repository root: /usr/bin/python3 experiments/reference/conv_pool.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(20240611)

out = {}


def put(name, t):
    t = t.detach().to(torch.float32).contiguous()
    out[name] = {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def grads(loss, tensors):
    gs = torch.autograd.grad(loss, tensors)
    return gs


# ---- convolution + pooling: x [2,3,12,12], w [4,3,3,3], b [4], stride 1, padding 1 ----
x = torch.randn(2, 3, 12, 12, requires_grad=True)
w = (0.3 * torch.randn(4, 3, 3, 3)).requires_grad_()
b = (0.1 * torch.randn(4)).requires_grad_()
put("x", x)
put("w", w)
put("b", b)

conv = F.conv2d(x, w, b, stride=1, padding=1)  # pre-activation, [2,4,12,12]
put("conv", conv)
v_conv = torch.randn_like(conv)
put("v_conv", v_conv)
gx, gw, gb = grads((conv * v_conv).sum(), [x, w, b])
put("conv_grad_x", gx)
put("conv_grad_w", gw)
put("conv_grad_b", gb)

for kind, pool in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
    y = pool(F.conv2d(x, w, b, stride=1, padding=1), 2, 2)  # [2,4,6,6]
    put(kind + "pool", y)
    v = torch.randn_like(y)
    put("v_" + kind, v)
    gx, gw, gb = grads((y * v).sum(), [x, w, b])
    put(kind + "_grad_x", gx)
    put(kind + "_grad_w", gw)
    put(kind + "_grad_b", gb)

# ---- strided, padded convolution without bias and an overlapping 3x3/2 max pool ----
w2 = (0.2 * torch.randn(5, 3, 4, 4)).requires_grad_()
put("w2", w2)
y2 = F.max_pool2d(F.conv2d(x, w2, None, stride=2, padding=2), 3, 2)
put("s2_out", y2)
v2 = torch.randn_like(y2)
put("v_s2", v2)
gx, gw = grads((y2 * v2).sum(), [x, w2])
put("s2_grad_x", gx)
put("s2_grad_w", gw)

# ---- batch norm, train mode, on [N,C,H,W] and on [N,C] ----
momentum, eps = 0.1, 1e-5
for tag, shape in (("bn4", (6, 4, 5, 5)), ("bn2", (10, 3))):
    c = shape[1]
    xb = (1.5 * torch.randn(*shape) + 0.7).requires_grad_()
    gamma = (1.0 + 0.2 * torch.randn(c)).requires_grad_()
    beta = (0.1 * torch.randn(c)).requires_grad_()
    rm = 0.3 * torch.randn(c)
    rv = 1.0 + 0.5 * torch.rand(c)
    put(tag + "_x", xb)
    put(tag + "_gamma", gamma)
    put(tag + "_beta", beta)
    put(tag + "_running_mean", rm)
    put(tag + "_running_var", rv)
    rm_new, rv_new = rm.clone(), rv.clone()
    yb = F.batch_norm(xb, rm_new, rv_new, gamma, beta, training=True, momentum=momentum, eps=eps)
    put(tag + "_out", yb)
    put(tag + "_new_running_mean", rm_new)
    put(tag + "_new_running_var", rv_new)
    vb = torch.randn_like(yb)
    put(tag + "_v", vb)
    gx, gg, gbeta = grads((yb * vb).sum(), [xb, gamma, beta])
    put(tag + "_grad_x", gx)
    put(tag + "_grad_gamma", gg)
    put(tag + "_grad_beta", gbeta)
    ye = F.batch_norm(xb, rm, rv, gamma, beta, training=False, eps=eps)
    put(tag + "_eval_out", ye)

out["momentum"] = momentum
out["eps"] = eps

path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "conv_pool.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path), len(out), "entries")
