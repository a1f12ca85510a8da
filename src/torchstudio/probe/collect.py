"""Every sample's output, target and loss over a split, for the interpretation."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from torchstudio.train.batches import BatchSource, to_device
from torchstudio.train.loop import Cancelled, TrainingError, as_list


def per_sample_loss(loss_fn: nn.Module, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Each sample's loss (N values): with `reduction="none"` when the loss has that
    setting (class weights then weigh each sample, as in training), else one call per sample."""
    if getattr(loss_fn, "reduction", None) is not None:
        unreduced = copy.copy(loss_fn)  # the user's loss object stays as it is
        unreduced.reduction = "none"
        values = unreduced(output, target)
        if values.dim() >= 1 and values.shape[0] == output.shape[0]:
            return values.reshape(len(values), -1).float().mean(dim=1)
    return torch.stack(
        [
            loss_fn(output[i : i + 1], target[i : i + 1]).float().reshape(())
            for i in range(len(output))
        ]
    )


def collect(
    model: nn.Module,
    loss_fn: nn.Module,
    source: BatchSource,
    input_ids: list[int],
    output_id: int,
    batch_size: int,
    device: torch.device,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] = lambda fraction: None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outputs, targets, losses) of the model's first output for every sample, in order."""
    model.eval()
    outputs, targets, losses = [], [], []
    count, done = len(source), 0
    generator = torch.Generator()
    with torch.no_grad():
        for batch in source.batches(batch_size, False, generator):
            if cancelled():
                raise Cancelled("interpretation stopped")
            inputs = [to_device(batch[i], device) for i in input_ids]
            target = batch[output_id]
            if not isinstance(target, torch.Tensor):
                raise TrainingError(
                    "the interpretation needs targets of one shape per split (they vary here)"
                )
            output = as_list(model(*inputs))[0]
            target = target.to(device)
            try:
                loss = per_sample_loss(loss_fn, output, target)
            except (RuntimeError, ValueError, IndexError) as exc:
                raise TrainingError(f"{type(loss_fn).__name__} failed on a batch: {exc}") from exc
            outputs.append(output.float().cpu().numpy())
            targets.append(target.cpu().numpy())
            losses.append(loss.cpu().numpy())
            done += len(target)
            progress(done / max(count, 1))
    if not outputs:
        raise TrainingError("the validation split is empty: there is nothing to interpret")
    return np.concatenate(outputs), np.concatenate(targets), np.concatenate(losses)
