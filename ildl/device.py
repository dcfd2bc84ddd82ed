"""Device choice: `auto` takes CUDA when it is there, else the CPU."""
from __future__ import annotations

import torch


def resolve(name: str = "auto") -> torch.device:
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but torch sees no GPU (torch.cuda.is_available() is False)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device '{name}' (auto, cpu, cuda)")
    return torch.device(name)


def describe(device: torch.device | str = "auto") -> str:
    """A human line: 'CUDA: NVIDIA H100 …' or 'CPU (2 threads)'."""
    dev = resolve(device) if isinstance(device, str) else device
    if dev.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(dev)}"
    return f"CPU ({torch.get_num_threads()} threads, torch {torch.__version__})"
