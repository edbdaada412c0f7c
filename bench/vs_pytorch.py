"""a3c_native's network kernels vs PyTorch CPU (one thread), side by side in one process.

Times the two operations a batched A3C worker (k envs, t_max-step rollouts) runs, at every
batch asked for:
  - the acting forward pass of k observations (uint8, scaled by 1/255 inside), default
    k = 1, 4, 8, 16, 32;
  - the forward + backward of the A3C loss over a rollout of n = k x t_max observations,
    default n = 5, 40, 160, 640 (k=1/t_max=5, k=8/t_max=5, k=8/t_max=20, k=32/t_max=20).
Both contenders get the same weights and inputs; their outputs are compared at every shape
before any timing. Rounds alternate between the two, each round timing a loop of calls long
enough to be measured (~50 ms on the slower side, at least one call); the table prints the
medians over rounds per call, their ratio per shape, and the lowest ratio.
a3c_native's forward includes its per-call weight packing and argument checks; its backward
writes into a reused gradient buffer (out=), like torch's persistent .grad.

Machine: AMD EPYC (Zen 4), 2 vCPUs, one thread each side (torch.set_num_threads(1)).
Command:  python bench/vs_pytorch.py [--arch a3c|nature] [--rounds 15]
                                     [--batches 1,4,8,16,32 5,40,160,640]
Needs:    pip install torch==2.13.0   (the CPU wheel on this machine)
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import a3c_native  # noqa: E402

DEFAULT_FWD_BATCHES = (1, 4, 8, 16, 32)
DEFAULT_FB_BATCHES = (5, 40, 160, 640)
# Each timed block of a round runs this long on the slower contender (at least one call).
ROUND_SECONDS = 0.05
# fp32 vs fp32 with different summation orders; an indexing or layout bug is O(1).
MAX_FWD_DIFF = 1e-4  # absolute, on logits and values of order 0.01-1
MAX_GRAD_REL_DIFF = 1e-4  # relative to the largest gradient element
# Observations are kept whose ReLU pre-activations (float64) all stay this far from 0, as in
# the tests (tests/conftest.py KINK_MARGIN): at a kink the two sides' fp32 rounding can fall
# on either side, and one flipped unit moves a summed gradient by ~1e-3 of its largest
# element. Random frames hit one within a few hundred observations.
KINK_MARGIN = 1e-5


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


def kink_free_obs(model: TorchA3C, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random uint8 observations, each with every ReLU pre-activation KINK_MARGIN from 0."""
    model64 = copy.deepcopy(model).double()
    kept: list[np.ndarray] = []
    count = 0
    for _ in range(100):
        cand = rng.integers(0, 256, (max(n, 64), 4, 84, 84), dtype=np.uint8)
        with torch.no_grad():
            x = torch.from_numpy(cand).double() / 255.0
            margin = torch.full((len(cand),), float("inf"), dtype=torch.float64)
            for layer in [*model64.convs, model64.fc]:
                x = layer(x.flatten(1) if layer is model64.fc else x)
                margin = torch.minimum(margin, x.abs().flatten(1).min(1).values)
                x = torch.relu(x)
        good = cand[(margin > KINK_MARGIN).numpy()]
        kept.append(good)
        count += len(good)
        if count >= n:
            return np.ascontiguousarray(np.concatenate(kept)[:n])
    raise SystemExit(f"no {n} observations clear of ReLU kinks in 100 draws")


def timed(fn, iters: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated batch sizes like 1,8,32, got {text!r}"
        ) from None
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="a3c", choices=["a3c", "nature"])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--actions", type=int, default=6)
    ap.add_argument(
        "--batches",
        nargs=2,
        type=parse_batches,
        metavar=("FWD", "FWDBWD"),
        default=[DEFAULT_FWD_BATCHES, DEFAULT_FB_BATCHES],
        help="comma-separated batches of the acting forward (k envs) and of the "
        "forward+backward (k x t_max); default: "
        + " ".join(",".join(map(str, b)) for b in (DEFAULT_FWD_BATCHES, DEFAULT_FB_BATCHES)),
    )
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error(f"--rounds must be >= 1, got {args.rounds}")
    torch.set_num_threads(1)
    A = args.actions
    fwd_batches, fb_batches = args.batches

    net = a3c_native.Network(args.arch, (4, 84, 84), A)
    params = net.init_params(0)
    model = TorchA3C(args.arch, A)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in net.to_state_dict(params).items()})
    grad_buf = np.empty_like(params)  # like torch's persistent .grad buffers

    rng = np.random.default_rng(0)
    n_max = max(max(fwd_batches), max(fb_batches))
    obs_all = kink_free_obs(model, n_max, rng)
    actions_all = rng.integers(0, A, n_max).astype(np.int64)
    returns_all = rng.standard_normal(n_max).astype(np.float32)

    # One case per shape: (operation, batch, ours, theirs). Inputs are sliced once, here, so
    # the timed calls only call (leading-axis slices stay C-contiguous: no copies).
    cases = []
    worst_fwd = worst_grad = 0.0
    for b in fwd_batches:
        obs, t_obs = obs_all[:b], torch.from_numpy(obs_all[:b])

        def ours_fwd(obs=obs):
            net.forward(params, obs)

        def torch_fwd(t_obs=t_obs):
            with torch.no_grad():
                model(t_obs)

        # Agreement before timing.
        lg, v = net.forward(params, obs)
        with torch.no_grad():
            tlg, tv = model(t_obs)
        diff = max(np.abs(lg - tlg.numpy()).max(), np.abs(v - tv.numpy()).max())
        if not diff < MAX_FWD_DIFF:
            raise SystemExit(f"forward b={b}: outputs differ by {diff:.2e}: not timing")
        worst_fwd = max(worst_fwd, diff)
        cases.append(("forward", b, ours_fwd, torch_fwd))

    for b in fb_batches:
        obs, actions, returns = obs_all[:b], actions_all[:b], returns_all[:b]
        t_obs, t_act, t_ret = (torch.from_numpy(x) for x in (obs, actions, returns))

        def ours_fb(obs=obs, actions=actions, returns=returns):
            net.loss_and_grad(params, obs, actions, returns, out=grad_buf)

        def torch_fb(t_obs=t_obs, t_act=t_act, t_ret=t_ret):
            model.zero_grad(set_to_none=False)
            torch_loss(model, t_obs, t_act, t_ret).backward()

        _, grad = net.loss_and_grad(params, obs, actions, returns)
        model.zero_grad()
        torch_loss(model, t_obs, t_act, t_ret).backward()
        tgrad = net.from_state_dict({k: p.grad.numpy() for k, p in model.named_parameters()})
        rel = np.abs(grad - tgrad).max() / max(1e-12, np.abs(tgrad).max())
        if not rel < MAX_GRAD_REL_DIFF:
            raise SystemExit(
                f"fwd+bwd b={b}: gradients differ by {rel:.2e} of the largest: not timing"
            )
        worst_grad = max(worst_grad, rel)
        cases.append(("fwd+bwd", b, ours_fb, torch_fb))
    print(
        f"agreement at every shape: forward max|diff| {worst_fwd:.2e}, "
        f"grad max|diff|/max|grad| {worst_grad:.2e}"
    )

    rows = []
    for name, b, ours, theirs in cases:
        # Warm-up (first-call allocations of both sides), then the loop length of a round.
        once = [timed(f, 1) for f in (ours, theirs, ours, theirs)]
        iters = max(1, round(ROUND_SECONDS / max(once[2:])))
        o, t = [], []
        for _ in range(args.rounds):
            o.append(timed(ours, iters))
            t.append(timed(theirs, iters))
        rows.append((name, b, statistics.median(o), statistics.median(t)))

    print(f"\n{args.arch} net, {A} actions, 1 thread each, median of {args.rounds} rounds")
    print(f"{'operation':<10}{'batch':>6}{'a3c_native us':>15}{'torch us':>12}{'speed-up':>10}")
    for name, b, mo, mt in rows:
        print(f"{name:<10}{b:>6}{mo * 1e6:>15.1f}{mt * 1e6:>12.1f}{mt / mo:>9.2f}x")
    name, b, mo, mt = min(rows, key=lambda r: r[3] / r[2])
    print(f"lowest speed-up: {mt / mo:.2f}x ({name} b={b})")
    print(f"torch {torch.__version__}, a3c_native {a3c_native.__version__} ({a3c_native._core.kernel_isa()} kernels)")


if __name__ == "__main__":
    main()
