"""What a NaN or infinite loss tells the user: where it happened, whether a good checkpoint is kept, and what to
try (a smaller learning rate in the notation they typed, clipping, anomaly detection to find the operation)."""

from __future__ import annotations

from pathlib import Path

from nnml.errors import NnmlError


class NonFiniteLoss(NnmlError):
    exit_code = 1


def nonfinite(where: str, what: str, epoch: int, slot, folder: Path | None, hint=None) -> NonFiniteLoss:
    """The error for a loss that became non-finite at ``where`` in ``epoch``; ``slot``: the main optimizer slot (its
    learning rate), ``folder``: the checkpoints folder, ``hint(lr)``: the override to suggest."""
    last = Path(folder) / "last.pt" if folder else None
    kept = (f"the last good checkpoint {last} is kept" if last is not None and last.is_file()
            else "no checkpoint was written before it")
    if slot is None:
        return NonFiniteLoss(f"{what} at {where} (epoch {epoch}); {kept}")
    lr = slot.lr
    smaller = hint(lr) if hint else f"optimizer.lr={lr / 10:g}"
    return NonFiniteLoss(f"{what} at {where} (epoch {epoch}, lr {lr:g}); {kept}. Try a smaller learning rate "
                         f"(e.g. {smaller}), trainer.grad_clip=1.0, or trainer.detect_anomaly=true to find the "
                         f"operation")
