"""A small training loop on tensors held on the device (no DataLoader, no per-sample Python).

The training-engine issue grows this into the book's one loop (schedules, augmentation,
distillation, bf16); the contract stays: tensors in, a trained model and a history out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (initialisation) and return a generator for batch order."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] → float in [−1, 1] (a fixed map, so every split sees the same one)."""
    return images.float().div_(127.5).sub_(1.0)


@dataclass
class History:
    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)


def fit_simple(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float,
               epochs: int, batch_size: int, lr: float, seed: int, weight_decay: float = 0.0,
               device: torch.device | None = None) -> History:
    """Minimise ``F.cross_entropy(label_smoothing=eps)`` with SGD + Nesterov and a cosine schedule."""
    device = device or default_device()
    gen = seed_everything(seed)
    model.to(device).train()
    x, y = images.to(device), labels.to(device)
    steps_per_epoch = max(1, len(x) // batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
    hist, step = History(), 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(device)
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(model(to_float(x[idx])), y[idx], label_smoothing=eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0 or step == 1:
                hist.step.append(step)
                hist.train_loss.append(loss.item())
    return hist


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 2048,
                   device: torch.device | None = None) -> torch.Tensor:
    """Logits for all images, in eval mode, returned on the CPU as float32."""
    device = device or default_device()
    model.to(device).eval()
    out = [model(to_float(images[i:i + batch_size].to(device))).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)
