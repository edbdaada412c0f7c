"""The network architecture and method names, one list each for the config, the networks, the
presets and the CLI (the native core checks the same names: cpp/nn/arch.cc, the Method enum).
A leaf module: it imports nothing."""

from __future__ import annotations

__all__ = ["ARCHS", "METHODS", "RECURRENT_ARCHS", "VALUE_BASED_METHODS", "VECTOR_ARCHS", "head_of"]

ARCHS = ("a3c", "nature", "mlp", "a3c_lstm", "nature_lstm", "mlp_lstm")
RECURRENT_ARCHS = ("a3c_lstm", "nature_lstm", "mlp_lstm")  # an LSTM before the heads (issue 19)
VECTOR_ARCHS = ("mlp", "mlp_lstm")  # float32 vector observations; the others take uint8 images

METHODS = ("a3c", "one_step_q", "one_step_sarsa", "n_step_q")  # Mnih et al. 2016's four (issue 20)
VALUE_BASED_METHODS = ("one_step_q", "one_step_sarsa", "n_step_q")  # a q-value head, a target network


def head_of(method: str) -> str:
    """The network head a method learns: action values ('q') for the value-based methods."""
    return "q" if method in VALUE_BASED_METHODS else "policy_value"
