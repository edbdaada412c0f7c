"""a3c_native's LSTM layer vs torch.nn.LSTMCell (one thread), side by side in one process.

The LSTM of the recurrent archs (a3c_lstm: 256 inputs from the fc layer, 256 cells) at the
shapes an actor-learner with k envs runs:
  - forward of one time step of k sequences (acting), default k = 1, 4, 8, 16, 32;
  - forward + backward through time of a t_max-step rollout of k sequences (t_max 5), the
    gradient of sum_t <dh_t, h_t> w.r.t. the weights, the biases and the inputs.
Both contenders get the same weights, inputs and state; outputs and gradients are compared
before any timing. Rounds alternate between the two (each a loop of ~50 ms on the slower
side); the table prints the median time per call, the ratio torch / ours per shape, and the
lowest ratio. Ours goes through a3c_native._core._LstmLayer (lstm.cc, the archs' code path)
and includes its argument checks and output copies; torch's backward accumulates into .grad
(zeroed per call, as an optimizer step would).

A second table puts the whole networks side by side, a3c_lstm against the feed-forward a3c
(ours both, 84x84x4 frames, 6 actions): the acting forward of k frames, and forward + backward
of a t_max-step rollout of k games (the issue's bar: the LSTM step at most 1.3x the
feed-forward one).

Command:  python bench/vs_pytorch_lstm.py [--rounds 15] [--batches 1,4,8,16,32] [--t-max 5]
Needs:    pip install torch==2.13.0   (the CPU wheel on this machine)
"""

from __future__ import annotations

import argparse
import os
import statistics

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from a3c_native import _core  # noqa: E402
from vs_pytorch import parse_batches, timed  # noqa: E402  (bench/ is the script's directory)

ROUND_SECONDS = 0.05
MAX_H_DIFF = 1e-5  # fp32 vs fp32, |h| < 1
MAX_GRAD_REL_DIFF = 1e-4  # relative to the largest element of each gradient


def compare(name: str, ours, theirs, rounds: int) -> tuple[float, float]:
    """Median seconds per call of each, over alternating rounds."""
    ours()
    theirs()  # warm-up (allocations, torch's first-call dispatch)
    per = max(timed(ours, 3), timed(theirs, 3))
    iters = max(1, int(ROUND_SECONDS / per))
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        t_ours.append(timed(ours, iters))
        t_theirs.append(timed(theirs, iters))
    return statistics.median(t_ours), statistics.median(t_theirs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batches", type=parse_batches, default=(1, 4, 8, 16, 32))
    ap.add_argument("--t-max", type=int, default=5)
    ap.add_argument("--inputs", type=int, default=256, help="LSTM input size (a3c_lstm: the fc's 256)")
    ap.add_argument("--cells", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(args.inputs, args.cells)
    w = [p.detach().numpy().copy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    ours = _core._LstmLayer(*w)
    rng = np.random.default_rng(1)
    H, T = args.cells, args.t_max
    rows = []
    for k in args.batches:
        x = np.maximum(rng.normal(size=(T * k, args.inputs)), 0).astype(np.float32)
        h0 = rng.uniform(-0.5, 0.5, (k, H)).astype(np.float32)
        c0 = rng.normal(size=(k, H)).astype(np.float32)
        dh = rng.normal(size=(T * k, H)).astype(np.float32)
        tx, th0, tc0, tdh = (torch.from_numpy(a) for a in (x, h0, c0, dh))
        tx_grad = tx.clone().requires_grad_(True)

        def torch_fwd(tx=tx, th0=th0, tc0=tc0, k=k):
            with torch.no_grad():
                return cell(tx[:k], (th0, tc0))

        def torch_fb(tx_grad=tx_grad, th0=th0, tc0=tc0, tdh=tdh, k=k):
            for p in cell.parameters():
                p.grad = None
            tx_grad.grad = None
            h, c = th0, tc0
            loss = 0.0
            for t in range(T):
                h, c = cell(tx_grad[t * k : (t + 1) * k], (h, c))
                loss = loss + (h * tdh[t * k : (t + 1) * k]).sum()
            loss.backward()

        def ours_fwd(x=x, h0=h0, c0=c0, k=k):
            return ours.rollout(x[:k], k, h0, c0)

        def ours_fb(x=x, h0=h0, c0=c0, dh=dh, k=k):
            return ours.rollout(x, k, h0, c0, dh)

        # Agreement before timing.
        h_ours, _ = ours_fwd()
        h_torch, _ = torch_fwd()
        diff = float(np.abs(h_ours - h_torch.numpy()).max())
        assert diff < MAX_H_DIFF, f"k={k}: forward differs by {diff:.2e}"
        _, grads = ours_fb()
        torch_fb()
        want = [p.grad.numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
        want.append(tx_grad.grad.numpy())
        for name, g, wv in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh", "x"), grads, want, strict=True):
            rel = float(np.abs(g - wv).max() / max(np.abs(wv).max(), 1e-30))
            assert rel < MAX_GRAD_REL_DIFF, f"k={k}: d/d {name} differs by {rel:.2e} of its max"
        f_ours, f_torch = compare(f"fwd k={k}", ours_fwd, torch_fwd, args.rounds)
        b_ours, b_torch = compare(f"fb k={k}", ours_fb, torch_fb, args.rounds)
        rows.append((k, f_ours, f_torch, b_ours, b_torch))

    print(f"LSTM {args.inputs} -> {args.cells} cells, torch {torch.__version__} (1 thread); median us per call over {args.rounds} rounds")
    print(f"{'k':>4} | {'fwd ours':>9} {'fwd torch':>9} {'ratio':>6} | {'fwd+bwd T=' + str(T) + ' ours':>18} {'torch':>9} {'ratio':>6}")
    for k, fo, ft, bo, bt in rows:
        print(f"{k:>4} | {fo * 1e6:9.1f} {ft * 1e6:9.1f} {ft / fo:6.2f} | {bo * 1e6:18.1f} {bt * 1e6:9.1f} {bt / bo:6.2f}")
    print(f"lowest ratio (torch / ours): forward {min(r[2] / r[1] for r in rows):.2f}, "
          f"forward+backward {min(r[4] / r[3] for r in rows):.2f}")
    # The GEMMs' arithmetic rate of each side, and the rate ours would need to be 2x torch:
    # set against the core's FMA peak (bm_gemm's BM_Peak, bench/README), it says at which
    # shapes a 2x bar is reachable at all.
    print("\nGEMM GFLOP/s (2 flops a multiply-add of the layer's matrix products; elementwise work not counted)")
    print(f"{'k':>4} | {'fwd ours':>9} {'torch':>7} {'2x torch':>9} | {'fwd+bwd ours':>13} {'torch':>7} {'2x torch':>9}")
    for k, fo, ft, bo, bt in rows:
        ff, fb = lstm_flops(k, args.inputs, H, 1, backward=False), lstm_flops(k, args.inputs, H, T, backward=True)
        print(f"{k:>4} | {ff / fo / 1e9:9.1f} {ff / ft / 1e9:7.1f} {2 * ff / ft / 1e9:9.1f} | "
              f"{fb / bo / 1e9:13.1f} {fb / bt / 1e9:7.1f} {2 * fb / bt / 1e9:9.1f}")
    whole_networks(args, rng)


def lstm_flops(k: int, inputs: int, H: int, T: int, *, backward: bool) -> float:
    """Flops of the matrix products of T steps of k sequences: forward x W_ih^T and h W_hh^T
    at every step (the carried-in state is not zero); the backward adds dW_ih and dW_hh (as
    many as the forward), dx = dgates W_ih at every step and dh_in = dgates W_hh at every
    step but the first (the carried-in state is a constant)."""
    G = 4 * H
    fwd = 2.0 * T * k * G * (inputs + H)
    if not backward:
        return fwd
    return 2 * fwd + 2.0 * T * k * G * inputs + 2.0 * (T - 1) * k * G * H


def whole_networks(args: argparse.Namespace, rng: np.random.Generator) -> None:
    """a3c_lstm vs a3c, both a3c_native: the cost of the recurrent agent's step."""
    from a3c_native import Network

    ff, rec = Network("a3c", (4, 84, 84), 6), Network("a3c_lstm", (4, 84, 84), 6)
    p_ff, p_rec = ff.init_params(0), rec.init_params(0)
    T = args.t_max
    rows = []
    for k in args.batches:
        obs = rng.integers(0, 256, size=(T, k, 4, 84, 84), dtype=np.uint8)
        actions = rng.integers(0, 6, size=(T, k)).astype(np.int64)
        returns = rng.normal(size=(T, k)).astype(np.float32)
        state = rec.initial_state(k)
        out_ff, out_rec = np.empty(ff.num_params, np.float32), np.empty(rec.num_params, np.float32)

        def ff_fwd(obs=obs):
            return ff.forward(p_ff, obs[0])

        def rec_fwd(obs=obs, state=state):
            return rec.forward(p_rec, obs[0], state)

        def ff_fb(obs=obs, actions=actions, returns=returns, out=out_ff, k=k):
            return ff.loss_and_grad(p_ff, obs.reshape(T * k, 4, 84, 84), actions.reshape(-1), returns.reshape(-1), out=out)

        def rec_fb(obs=obs, actions=actions, returns=returns, out=out_rec, state=state):
            return rec.loss_and_grad_recurrent(p_rec, obs, actions, returns, state=state, out=out)

        f_rec, f_ff = compare(f"net fwd k={k}", rec_fwd, ff_fwd, args.rounds)
        b_rec, b_ff = compare(f"net fb k={k}", rec_fb, ff_fb, args.rounds)
        rows.append((k, f_ff, f_rec, b_ff, b_rec))
    print("\nwhole networks, a3c_native both: a3c_lstm vs a3c (84x84x4, 6 actions); median us per call")
    print(f"{'k':>4} | {'fwd a3c':>9} {'a3c_lstm':>9} {'x':>6} | {'fwd+bwd T=' + str(T) + ' a3c':>16} {'a3c_lstm':>9} {'x':>6}")
    for k, ff_f, rec_f, ff_b, rec_b in rows:
        print(f"{k:>4} | {ff_f * 1e6:9.1f} {rec_f * 1e6:9.1f} {rec_f / ff_f:6.2f} | {ff_b * 1e6:16.1f} {rec_b * 1e6:9.1f} {rec_b / ff_b:6.2f}")
    print(f"highest cost ratio (a3c_lstm / a3c): forward {max(r[2] / r[1] for r in rows):.2f}, "
          f"forward+backward {max(r[4] / r[3] for r in rows):.2f}")


if __name__ == "__main__":
    main()
