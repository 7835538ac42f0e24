"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``).

Every worker holds the whole model and the whole (precomputed) data set, and walks the
same shuffled batches; worker ``r`` of ``W`` takes structures ``r, r + W, ...`` of each
batch. Workers add their error sums and label counts (``all_reduce``) before the loss is
formed, and add their gradients after ``backward``, so one step on ``W`` workers is the
step one worker would take on the whole batch. Only worker 0 writes files.

Backend: NCCL when training on CUDA, gloo on the CPU.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_launched() -> bool:
    """True under ``torchrun`` (or any launcher setting ``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> tuple[int, int]:
    """Join the process group if launched by torchrun; return ``(rank, world_size)``."""
    if not is_launched():
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each worker takes the GPU of its ``LOCAL_RANK``."""
    if device.type == "cuda" and is_launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over workers (identity when not distributed); differentiable use is not needed."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        tensor = tensor.detach().clone()
        dist.all_reduce(tensor)
    return tensor


def sum_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Add every worker's gradients (one flat all_reduce)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for parameter, grad in zip(parameters, grads, strict=True):
        parameter.grad = flat[offset : offset + grad.numel()].view_as(grad).clone()
        offset += grad.numel()


def broadcast_parameters(model: torch.nn.Module) -> None:
    """Make every worker start from worker 0's weights."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        for tensor in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(tensor.data, src=0)


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
