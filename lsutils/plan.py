"""A cost model for an experiment's settings (its presets): how many FLOPs and seconds a grid of training runs will take.

``flops_per_image`` counts one forward pass with ``torch.utils.flop_counter.FlopCounterMode``
(PyTorch's own counter: 2 FLOPs per multiply-accumulate of every matmul and convolution; the
element-wise layers — BatchNorm, ReLU, pooling, the loss — are not counted, as is usual).
A training step costs about three forward passes (forward, gradient w.r.t. activations, gradient
w.r.t. weights), so ``estimate`` multiplies by ``TRAIN_FACTOR``. Seconds come from a measured
throughput (``History.images_per_s`` of a short run, or ``lsutils.bench``), not from FLOPs: small
networks are bound by kernel launches, not arithmetic.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["TRAIN_FACTOR", "flops_per_image", "optimiser_steps", "estimate"]

TRAIN_FACTOR = 3
"""Training FLOPs per image ≈ TRAIN_FACTOR × forward FLOPs."""


@torch.no_grad()
def flops_per_image(model: nn.Module, image_shape: tuple[int, int, int]) -> int:
    """Forward FLOPs (2 × multiply-accumulates of conv and linear layers) for one image of shape
    (C, H, W), counted on one zero image in eval mode (so BatchNorm statistics are left alone)
    on the model's device; the model's train/eval mode is restored."""
    if len(image_shape) != 3 or not all(isinstance(s, int) and s > 0 for s in image_shape):
        raise ValueError(f"image_shape must be (C, H, W) of positive ints, got {image_shape!r}")
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.dtype.is_floating_point else torch.float32
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.zeros(1, *image_shape, device=device, dtype=dtype))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def optimiser_steps(n_train: int, epochs: float, batch_size: int) -> int:
    """Optimiser steps of one ``train.train`` run on ``n_train`` images: it drops the last partial
    batch, so ``max(1, n // batch_size)`` steps per epoch, and ``round(epochs × that)`` in all."""
    if n_train < 1 or batch_size < 1 or not epochs > 0:
        raise ValueError(f"n_train and batch_size must be ≥ 1 and epochs > 0, got {n_train}, {batch_size}, {epochs}")
    from lsutils.train import total_steps  # the loop's own rule; imported late (train → dryrun → plan)

    return total_steps(n_train, epochs, batch_size)


def estimate(runs: int, steps: int, batch_size: int, flops_per_image: int, images_per_s: float) -> dict:
    """Cost of ``runs`` training runs of ``steps`` optimiser steps each at ``batch_size``.

    Returns ``{"runs", "steps", "optimiser_steps", "images", "train_flops", "seconds"}``:
    ``steps`` per run, ``optimiser_steps = runs × steps`` (one by one; a packed run takes ``steps``
    steps of ``runs`` models each), ``images = runs × steps × batch_size`` images seen,
    ``train_flops = TRAIN_FACTOR × flops_per_image × images``, ``seconds = images / images_per_s``
    with ``images_per_s`` a measured training throughput (per device, all runs together).
    """
    for name, value in (("runs", runs), ("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
    if isinstance(flops_per_image, bool) or not isinstance(flops_per_image, int) or flops_per_image < 0:
        raise ValueError(f"flops_per_image must be an int ≥ 0, got {flops_per_image!r}")
    if not (isinstance(images_per_s, (int, float)) and math.isfinite(images_per_s) and images_per_s > 0):
        raise ValueError(f"images_per_s must be a finite number > 0, got {images_per_s!r}")
    images = runs * steps * batch_size
    return {"runs": runs, "steps": steps, "optimiser_steps": runs * steps, "images": images,
            "train_flops": TRAIN_FACTOR * flops_per_image * images, "seconds": images / images_per_s}
