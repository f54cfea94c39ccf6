"""Golden values for GcnKd's losses, optimisers and learning-rate schedules, computed with plain PyTorch.

Writes tests/fixtures/losses.json (cross entropy, KL divergence at T = 1 and T = 4, BCE with logits and soft
targets, MSE: inputs, values and gradients, with extreme logits of magnitude ~100 mixed in) and
tests/fixtures/optim.json (a fixed parameter/gradient sequence run for 5 steps through SGD with
momentum + Nesterov + weight decay, Adam with L2 weight decay and AdamW; the parameters after every step; and the
learning rate of every schedule for epochs 0..20).
Run: /usr/bin/python3 experiments/reference/losses_optim.py   (torch 1.13)
"""
import json
import math
import os
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(20261123)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")


def t(x):
    x = x.detach().to(torch.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def with_extremes(x):
    """Put logits of magnitude ~100 into a few places (rows dominated by one class, saturated sigmoids)."""
    x = x.clone()
    flat = x.view(-1)
    idx = torch.randperm(flat.numel())[:6]
    flat[idx] = torch.tensor([100.0, -100.0, 95.5, -97.25, 88.0, -103.0])
    return x


def f64(x):
    """The float32 input as a float64 leaf: golden values are computed in double from exactly the stored inputs
    (torch's own float32 KL teacher gradient is off by ~1e-4 relative on rows with extreme logits, where
    p (log p - log q - KL) cancels), so the tests measure GcnKd's error, not PyTorch's."""
    return x.detach().to(torch.float32).to(torch.float64).requires_grad_()


def losses():
    out = {}
    # cross entropy: 8 rows x 37 classes (two 16-wide vector blocks and a scalar tail per row)
    logits = f64(with_extremes(torch.randn(8, 37) * 3))
    labels = torch.randint(0, 37, (8,))
    loss = F.cross_entropy(logits, labels)
    (g,) = torch.autograd.grad(loss, logits)
    out["ce_logits"], out["ce_labels"], out["ce_loss"], out["ce_grad"] = t(logits), labels.tolist(), t(loss), t(g)
    out["ce_accuracy"] = float((logits.argmax(1) == labels).float().mean())

    # KL(softmax(t/T) || softmax(s/T)), mean over rows, gradients to both arguments
    teacher = f64(with_extremes(torch.randn(7, 21) * 2))
    student = f64(with_extremes(torch.randn(7, 21) * 2))
    out["kl_teacher"], out["kl_student"] = t(teacher), t(student)
    for T in (1, 4):
        kl = F.kl_div(F.log_softmax(student / T, dim=1), F.softmax(teacher / T, dim=1), reduction="batchmean")
        gs, = torch.autograd.grad(kl, student)
        # F.kl_div's gradient to its target is NaN where a teacher probability underflows to 0 (d xlogy(p, p)/dp =
        # log p + 1 = -inf, times dp/dt = 0); the same KL written through log-probabilities has the finite limit 0
        logp, logq = F.log_softmax(teacher / T, dim=1), F.log_softmax(student / T, dim=1)
        stable = (logp.exp() * (logp - logq)).sum() / teacher.shape[0]
        assert abs(float(stable) - float(kl)) <= 1e-9 * abs(float(kl))
        gt, = torch.autograd.grad(stable, teacher)
        assert torch.isfinite(gt).all()
        out[f"kl_T{T}_loss"], out[f"kl_T{T}_grad_teacher"], out[f"kl_T{T}_grad_student"] = t(kl), t(gt), t(gs)

    # BCE with logits and soft targets, gradients to both
    x = f64(with_extremes(torch.randn(9, 21) * 4))
    y = torch.rand(9, 21)
    y[0, :5] = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5])
    y = f64(y)
    bce = F.binary_cross_entropy_with_logits(x, y)
    gx, gy = torch.autograd.grad(bce, (x, y))
    out["bce_logits"], out["bce_targets"], out["bce_loss"], out["bce_grad_logits"], out["bce_grad_targets"] = \
        t(x), t(y), t(bce), t(gx), t(gy)

    # MSE
    a = f64(torch.randn(5, 33))
    b = f64(torch.randn(5, 33))
    m = F.mse_loss(a, b)
    ga, gb = torch.autograd.grad(m, (a, b))
    out["mse_a"], out["mse_b"], out["mse_loss"], out["mse_grad_a"], out["mse_grad_b"] = t(a), t(b), t(m), t(ga), t(gb)
    return out


STEPS = 5
OPTIMS = {
    # name: (constructor, lr)
    "sgd": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), 0.1),
    "adam": (lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05), 0.01),
    "adamw": (lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), 0.01),
}


def optim():
    out = {}
    w0 = torch.randn(3, 17)
    b0 = torch.randn(5) * 0.1
    grads = [(torch.randn(3, 17), torch.randn(5) * 0.5) for _ in range(STEPS)]
    grads[2][0][0, :4] = 0.0  # exact zero gradients: Adam's denominator is then eps-dominated
    out["w0"], out["b0"] = t(w0), t(b0)
    for k, (gw, gb) in enumerate(grads):
        out[f"grad{k}_w"], out[f"grad{k}_b"] = t(gw), t(gb)
    for name, (make, _) in OPTIMS.items():
        w = w0.clone().requires_grad_()
        b = b0.clone().requires_grad_()
        opt = make([w, b])
        for k, (gw, gb) in enumerate(grads):
            w.grad, b.grad = gw.clone(), gb.clone()
            opt.step()
            out[f"{name}{k}_w"], out[f"{name}{k}_b"] = t(w), t(b)

    # schedules: lr at epochs 0..20 (scheduler.step() called once per epoch, as a training loop does)
    def run(make_sched):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make_sched(opt)
        lrs = []
        for _ in range(21):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return lrs

    scheds = {
        "sched_constant": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0),
        "sched_step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        "sched_cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        "sched_linear": lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=8),
    }
    for name, make in scheds.items():
        lrs = run(make)
        out[name] = t(torch.tensor(lrs, dtype=torch.float64))
    # the closed form GcnKd implements agrees with torch's recursive cosine form, also past T_max
    closed = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(21)]
    assert max(abs(a - b) for a, b in zip(closed, run(scheds["sched_cosine"]))) < 1e-9
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in (("losses.json", losses()), ("optim.json", optim())):
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(data, f)
        print("wrote", os.path.join(OUT, name))


if __name__ == "__main__":
    main()
