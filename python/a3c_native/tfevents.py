"""TensorBoard event files holding scalars, written directly.

No TensorFlow, tensorboardX, protobuf or torch: tensorboardX imports torch whenever torch is
installed (``tensorboardX/__init__`` imports ``writer``, which runs ``import torch`` at import
time, whichever part of tensorboardX is used), a heavy import a training run has no use for.
Not here: which scalars a run logs (telemetry.py).

The format, restricted to what is written (TFRecord framing; tensorflow/core/util/event.proto
and tensorboard/compat/proto/summary.proto):
    record  = uint64 len | uint32 masked_crc32c(len) | data | uint32 masked_crc32c(data),
              little-endian; masked(c) = ((c >> 15 | c << 17) + 0xa282ead8) mod 2**32
    Event   = 1: double wall_time, 2: int64 step, then 3: string file_version (first record,
              "brain.Event:2") or 5: Summary summary
    Summary = 1: repeated Value;   Value = 1: string tag, 2: float simple_value
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path

__all__ = ["EventWriter", "crc32c"]

FILE_VERSION = "brain.Event:2"


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli, reflected
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of `data`, as TFRecord uses; crc32c(b"123456789") = 0xE3069283.

    Pure Python, ~0.1 us a byte: an event is ~50 bytes and a run writes a few a second."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> bytes:
    c = crc32c(data)
    return struct.pack("<I", (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields encode negatives as their two's complement
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, what: bytes) -> bytes:
    # field 1 (wire type 1, 64-bit), field 2 (wire type 0, varint)
    return b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step) + what


def scalar_event(tag: str, value: float, step: int, wall_time: float) -> bytes:
    """The serialized Event of one scalar (Summary with one simple_value)."""
    value_msg = _length_delimited(1, tag.encode("utf-8")) + b"\x15" + struct.pack("<f", value)
    return _event(wall_time, step, _length_delimited(5, _length_delimited(1, value_msg)))


class EventWriter:
    """Appends scalars to a new ``events.out.tfevents.*`` file in `logdir` (created if needed).

    The interface is the part of tensorboardX's SummaryWriter the telemetry uses. Writes are
    buffered; :meth:`flush` hands them to the OS (the telemetry flushes once per update).
    """

    def __init__(self, logdir: str | os.PathLike[str]) -> None:
        logdir = Path(logdir)
        logdir.mkdir(parents=True, exist_ok=True)
        # TensorBoard reads every *tfevents* file of a directory: a resumed run adds its own.
        base = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
        for n in itertools.count():
            try:
                self._file = (logdir / (base + (f".{n}" if n else ""))).open("xb")
                break
            except FileExistsError:
                continue
        self.path = Path(self._file.name)
        self._write(_event(time.time(), 0, _length_delimited(3, FILE_VERSION.encode())))
        self.flush()

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        """Record `value` (stored as float32) for `tag` at global step `step`."""
        self._write(scalar_event(tag, float(value), int(step), time.time()))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError(f"EventWriter for {self.path} is closed")
        header = struct.pack("<Q", len(data))
        self._file.write(header + _masked_crc(header) + data + _masked_crc(data))
