"""What a stylized set cost to make: training seconds of its stylizers or decoder, generation
seconds per image, and the device, recorded at the source so the report can set accuracy gained
against compute (points per CPU- or GPU-hour).

A checkpoint records ``compute = {"train_seconds", "device"}`` (seconds of ``trainer.fit``, summed
over a resumed run's parts); every manifest row records ``gen_seconds`` (its share of the wall time
of the batch that made it: decoding, stylizing, scoring) and ``device``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from stylaug.core.integrity import read_stamp


def device_description(accelerator: str | torch.device | None = None, processes: int = 1) -> dict:
    """{"kind": "gpu" | "cpu", "name": ..., "processes": n} for the device a stage ran on."""
    kind = getattr(accelerator, "type", accelerator)
    gpu = kind in ("gpu", "cuda") or (kind in (None, "auto") and torch.cuda.is_available())
    if gpu and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
    else:
        gpu, name = False, f"cpu ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"
    return {"kind": "gpu" if gpu else "cpu", "name": name, "processes": int(processes)}


def trainer_device(trainer) -> dict:
    return device_description(trainer.strategy.root_device, int(trainer.world_size))


def resumed_seconds(stamp: Path, resumed: bool) -> float:
    """Training seconds an interrupted run recorded before this one resumed it."""
    recorded = read_stamp(stamp) if resumed else None
    return float(recorded.get("train_seconds", 0.0)) if recorded else 0.0


def set_compute(rows: dict) -> dict:
    """What the set on disk cost: generation seconds (summed over images) and the training
    seconds of every distinct stylizer or decoder that made it, with the devices."""
    generation = sum(float(r.get("gen_seconds") or 0.0) for r in rows.values())
    training = {}
    for r in rows.values():
        training.setdefault(r["stylizer"], r.get("train_seconds"))
    known = [t for t in training.values() if t is not None]
    return {
        "generation_seconds": round(generation, 3),
        "training_seconds": round(sum(known), 3) if len(known) == len(training) else None,
        "devices": sorted({str(r.get("device")) for r in rows.values() if r.get("device")}),
        "train_devices": sorted(
            {str(r["train_device"]) for r in rows.values() if r.get("train_device")}
        ),  # fmt: skip
        "images": len(rows),
    }


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600.0
