"""Does a recurrent checkpoint's LSTM still respond to what it sees? (issue 19's Pong runs)

Plays one game of the checkpoint's ALE game for --steps agent steps (sampled actions, the
state carried as in training) and prints, over those steps: the mean |h|, the mean over
cells of each cell's std over time, the fraction of |h| > 0.95 (saturated cells), and the
std over time of each action's probability and of the value; then the LSTM's input, the fc
layer's ReLU output on the same frames (units never active, mean activation, mean std over
time), through the feed-forward net of the same torso with an identity head of 256 "actions"
(the native kernels; no other code path); last, from the checkpoint's shared RMSProp
statistics, the root mean square gradient each tensor has been receiving (median over its
entries; RMSProp's running average, so the last few thousand updates). A collapsed LSTM (h
nearly constant) gives a policy that ignores the screen: the policy entropy climbs to its
maximum while the value learns the mean return.

Command:  python bench/lstm_state.py runs/pong-lstm/checkpoint.npz [--steps 400] [--seed 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from a3c_native import Checkpoint, Network, Policy, load_checkpoint
from a3c_native.envs import AtariEnv


def fc_activations(policy: Policy, frames: np.ndarray) -> np.ndarray:
    """The fc layer's ReLU output [N, F] of the policy's torso: its feed-forward twin whose
    policy head is the identity (logits = features)."""
    sd = policy.network.to_state_dict(policy.params)
    width = sd["fc.bias"].shape[0]
    twin = Network(policy.network.arch.removesuffix("_lstm"), policy.obs_shape, width)
    tsd = twin.to_state_dict(twin.init_params(0))
    tsd.update({k: sd[k] for k in tsd if not k.startswith(("policy.", "value."))})  # the whole torso
    tsd["policy.weight"] = np.eye(width, dtype=np.float32)
    tsd["policy.bias"] = np.zeros(width, np.float32)
    logits = twin.forward(twin.from_state_dict(tsd), frames)[0]
    return np.asarray(logits)


def gradient_rms(checkpoint: Checkpoint, network: Network) -> dict[str, float]:
    """Median over each tensor's entries of sqrt(RMSProp's mean square gradient); empty if
    the checkpoint stores no RMSProp statistics."""
    if checkpoint.rms is None:
        return {}
    tensors = network.to_state_dict(np.asarray(checkpoint.rms, np.float32))
    return {name: float(np.median(np.sqrt(v))) for name, v in tensors.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    checkpoint = load_checkpoint(args.checkpoint)  # read once: the policy and the RMSProp statistics
    policy = Policy.load(checkpoint)
    if not policy.recurrent:
        ap.error(f"{args.checkpoint}: arch {policy.network.arch!r} has no LSTM")
    if policy.game is None:
        ap.error(f"{args.checkpoint}: not an ALE game's checkpoint")
    rng = np.random.default_rng(args.seed)
    with AtariEnv(policy.game, seed=args.seed, frame_skip=policy.frame_skip, frame_stack=policy.obs_shape[0]) as env:
        obs = env.reset()
        state = policy.initial_state(1)
        hs, probs, values, frames = [], [], [], []
        for _ in range(args.steps):
            frames.append(obs)
            probs.append(policy.probabilities(obs, state=state))
            values.append(policy.value(obs, state=state))
            action, state = policy.act(obs, rng=rng, state=state)
            hs.append(state[0].ravel().copy())
            obs = env.step(action)[0]
    h, p = np.array(hs), np.array(probs)
    print(f"{args.checkpoint}: {args.steps} steps of {policy.game}, seed {args.seed}")
    print(f"h: mean |h| {np.abs(h).mean():.3f}, std over time per cell (mean over cells) {h.std(0).mean():.4f}, "
          f"saturated (|h| > 0.95) {(np.abs(h) > 0.95).mean():.1%}")  # fmt: skip
    print(f"policy: mean probabilities {np.round(p.mean(0), 3).tolist()}, std over time {np.round(p.std(0), 4).tolist()}")
    print(f"value: mean {np.mean(values):+.3f}, std over time {np.std(values):.4f}")
    fc = fc_activations(policy, np.array(frames))
    print(f"fc (the LSTM's input): units never active {(fc.max(0) <= 0).mean():.1%}, mean activation {fc.mean():.3f}, "
          f"std over time per unit (mean over units) {fc.std(0).mean():.4f}")  # fmt: skip
    rms = gradient_rms(checkpoint, policy.network)
    if rms:
        print("gradient rms (median per tensor): " + ", ".join(f"{k} {v:.1e}" for k, v in rms.items()))


if __name__ == "__main__":
    main()
