"""DistributedDataParallel set-up for one rank: who am I, on which device, and the few collectives the loop needs.

A rank exists when torchrun (``torch.distributed.run``) started this process: it sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK`` (and the rendezvous address). :meth:`Dist.from_env` reads them, picks the device (``cuda:LOCAL_RANK``
with NCCL, or the CPU with gloo) and joins the process group. The loop calls :meth:`Dist.reduce_metric_state` so
every rank computes the metrics of the whole split; rank 0 alone writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as tdist

from nnml.errors import NnmlError


def in_torchrun() -> bool:
    """True in a process that torchrun started as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "RANK" in os.environ


def env_rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


@dataclass
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "auto", backend: str = "auto", timeout_s: float = 1800) -> "Dist | None":
        """Join the process group torchrun prepared; None when this is a single process."""
        if not in_torchrun():
            return None
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = str(device)
        use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if use_cuda:
            if not torch.cuda.is_available():
                raise NnmlError(f"trainer.device={device} but CUDA is not available on this machine; "
                                f"use trainer.device=cpu for gloo on CPU processes")
            if local >= torch.cuda.device_count():
                raise NnmlError(f"trainer.devices asks for more processes on this machine than its "
                                f"{torch.cuda.device_count()} CUDA device(s) (local rank {local})")
            dev = torch.device("cuda", local)  # one GPU per process: cuda:N in trainer.device is ignored here
            torch.cuda.set_device(dev)
        else:
            dev = torch.device("cpu")
        if backend == "auto":
            backend = "nccl" if dev.type == "cuda" else "gloo"
        if not tdist.is_initialized():
            kwargs = {"device_id": dev} if dev.type == "cuda" else {}
            tdist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s),
                                     **kwargs)
        return cls(rank, world, local, dev, backend)

    # ------------------------------------------------------------------ collectives
    def reduce_metric_state(self, ms) -> None:
        """Sum a :class:`~nnml.engine.metrics.MetricState`'s tensors over all ranks, in place, in one all_reduce.
        Counts travel as float64 (exact below 2**53)."""
        tensors = list(ms.state().values())
        flat = torch.cat([t.reshape(-1).to(torch.float64) for t in tensors])
        tdist.all_reduce(flat, op=tdist.ReduceOp.SUM)
        i = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[i:i + n].view_as(t).round() if not t.is_floating_point() else flat[i:i + n].view_as(t))
            i += n

    def broadcast_object(self, obj):
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather_object(self, obj) -> list:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        out = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.device.type == "cuda":
            tdist.barrier(device_ids=[self.device.index])
        else:
            tdist.barrier()

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as DDP sees it: gradients averaged over ranks in backward (rank 0's weights broadcast now)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        if self.device.type == "cuda":
            return DDP(model, device_ids=[self.device.index], output_device=self.device.index)
        return DDP(model)

    def destroy(self) -> None:
        if tdist.is_initialized():
            tdist.destroy_process_group()
