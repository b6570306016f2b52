"""Reading TensorBoard event files back in tests (tensorboardX writes them; TensorBoard is not installed)."""

from __future__ import annotations

import os
import struct


def tensorboard_scalars(folder: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a folder's TensorBoard event files (TFRecord framing, Event protobufs as
    tensorboardX defines them), by tag: (step, value) in the order written."""
    from tensorboardX.proto import event_pb2

    scalars: dict[str, list[tuple[int, float]]] = {}
    for name in sorted(os.listdir(folder)):
        if not name.startswith("events.out.tfevents"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4  # length, its crc, the record, its crc
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((int(event.step), value.simple_value))
    return scalars
