"""The network architecture names, one list for the config, the networks and the CLI (the
native core checks the same names: cpp/nn/arch.cc). A leaf module: it imports nothing."""

from __future__ import annotations

__all__ = ["ARCHS", "RECURRENT_ARCHS", "VECTOR_ARCHS"]

ARCHS = ("a3c", "nature", "mlp", "a3c_lstm", "nature_lstm", "mlp_lstm")
RECURRENT_ARCHS = ("a3c_lstm", "nature_lstm", "mlp_lstm")  # an LSTM before the heads (issue 19)
VECTOR_ARCHS = ("mlp", "mlp_lstm")  # float32 vector observations; the others take uint8 images
