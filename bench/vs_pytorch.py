"""a3c_native's network kernels vs PyTorch CPU (one thread), side by side in one process.

Times the two operations an A3C worker runs: the acting forward pass (batch 1, uint8 obs
scaled by 1/255 inside) and the forward + backward of the A3C loss over a t_max=5 rollout.
Both contenders get the same weights and inputs; their outputs are compared before timing.
Rounds alternate between the two, and medians over rounds are reported with their ratio.

Machine: AMD EPYC (Zen 4), 2 vCPUs, one thread each side (torch.set_num_threads(1)).
Command:  python bench/vs_pytorch.py [--arch a3c|nature] [--rounds 15]
Needs:    pip install torch==2.13.0   (the CPU wheel on this machine)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import a3c_native  # noqa: E402


class TorchA3C(nn.Module):
    def __init__(self, arch: str, num_actions: int) -> None:
        super().__init__()
        if arch == "a3c":
            self.conv1, self.conv2 = nn.Conv2d(4, 16, 8, 4), nn.Conv2d(16, 32, 4, 2)
            self.convs = [self.conv1, self.conv2]
            flat, hidden = 32 * 9 * 9, 256
        else:
            self.conv1, self.conv2, self.conv3 = nn.Conv2d(4, 32, 8, 4), nn.Conv2d(32, 64, 4, 2), nn.Conv2d(64, 64, 3, 1)
            self.convs = [self.conv1, self.conv2, self.conv3]
            flat, hidden = 64 * 7 * 7, 512
        self.fc = nn.Linear(flat, hidden)
        self.policy = nn.Linear(hidden, num_actions)
        self.value = nn.Linear(hidden, 1)

    def forward(self, obs_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = obs_u8.float() / 255.0
        for c in self.convs:
            x = torch.relu(c(x))
        x = torch.relu(self.fc(x.flatten(1)))
        return self.policy(x), self.value(x).squeeze(1)


def torch_loss(model, obs, actions, returns, beta=0.01, value_coef=0.5):
    logits, values = model(obs)
    logp = torch.log_softmax(logits, 1)
    adv = (returns - values).detach()
    entropy = -(logp.exp() * logp).sum(1)
    policy_loss = -(logp.gather(1, actions[:, None]).squeeze(1) * adv).sum()
    value_loss = (0.5 * (returns - values) ** 2).sum()
    return policy_loss + value_coef * value_loss - beta * entropy.sum()


def timed(fn, iters: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="a3c", choices=["a3c", "nature"])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--actions", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(1)
    A, T = args.actions, 5

    net = a3c_native.Network(args.arch, (4, 84, 84), A)
    params = net.init_params(0)
    model = TorchA3C(args.arch, A)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in net.to_state_dict(params).items()})

    rng = np.random.default_rng(0)
    obs1 = rng.integers(0, 256, (1, 4, 84, 84), dtype=np.uint8)
    obs5 = rng.integers(0, 256, (T, 4, 84, 84), dtype=np.uint8)
    actions = rng.integers(0, A, T).astype(np.int64)
    returns = rng.standard_normal(T).astype(np.float32)
    t_obs1, t_obs5 = torch.from_numpy(obs1), torch.from_numpy(obs5)
    t_act, t_ret = torch.from_numpy(actions), torch.from_numpy(returns)

    # Agreement before timing.
    lg, v = net.forward(params, obs1)
    with torch.no_grad():
        tlg, tv = model(t_obs1)
    fwd_diff = max(np.abs(lg - tlg.numpy()).max(), np.abs(v - tv.numpy()).max())
    _, grad = net.loss_and_grad(params, obs5, actions, returns)
    model.zero_grad()
    torch_loss(model, t_obs5, t_act, t_ret).backward()
    tgrad = np.concatenate([net.from_state_dict({k: p.grad.numpy() for k, p in model.named_parameters()})])
    grad_diff = np.abs(grad - tgrad).max() / max(1e-12, np.abs(tgrad).max())
    print(f"agreement: forward max|diff| {fwd_diff:.2e}, grad max|diff|/max|grad| {grad_diff:.2e}")
    assert fwd_diff < 1e-4 and grad_diff < 1e-4, "outputs differ: not timing"

    def ours_fwd():
        net.forward(params, obs1)

    def torch_fwd():
        with torch.no_grad():
            model(t_obs1)

    grad_buf = np.empty_like(params)  # like torch's persistent .grad buffers

    def ours_fb():
        net.loss_and_grad(params, obs5, actions, returns, out=grad_buf)

    def torch_fb():
        model.zero_grad(set_to_none=False)
        torch_loss(model, t_obs5, t_act, t_ret).backward()

    fwd_flops = net.flops_forward
    cases = [("forward b=1", ours_fwd, torch_fwd, fwd_flops, 200),
             ("fwd+bwd b=5", ours_fb, torch_fb, None, 30)]
    rows = []
    for name, ours, theirs, flops, iters in cases:
        for f in (ours, theirs):  # warm-up
            timed(f, 5)
        o, t = [], []
        for _ in range(args.rounds):
            o.append(timed(ours, iters))
            t.append(timed(theirs, iters))
        mo, mt = statistics.median(o), statistics.median(t)
        rows.append((name, mo, mt))
    print(f"\n{args.arch} net, {A} actions, 1 thread each, median of {args.rounds} rounds")
    print(f"{'operation':<14}{'a3c_native us':>15}{'torch us':>12}{'speed-up':>10}")
    for name, mo, mt in rows:
        print(f"{name:<14}{mo * 1e6:>15.1f}{mt * 1e6:>12.1f}{mt / mo:>9.2f}x")
    total_o = sum(r[1] for r in rows)
    total_t = sum(r[2] for r in rows)
    print(f"{'both':<14}{total_o * 1e6:>15.1f}{total_t * 1e6:>12.1f}{total_t / total_o:>9.2f}x")
    print(f"torch {torch.__version__}, a3c_native {a3c_native.__version__} ({a3c_native._core.kernel_isa()} kernels)")


if __name__ == "__main__":
    main()
