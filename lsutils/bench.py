"""``python -m lsutils bench``: the engine against the loop the tutorials write.

Both train the same model from the same initialisation for the same number of steps on the same
device, with the same augmentation (random crop with 2-pixel padding, horizontal flip) and loss.
The plain loop is torchvision's dataset + per-sample transforms + ``DataLoader``; the engine is
``lsutils.train.train`` (data on the device, batched augmentation, bf16 and channels-last memory layout on a GPU).
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from lsutils import data, models, train


def plain_loop(model: torch.nn.Module, root, steps: int, batch_size: int, device: torch.device,
               num_workers: int = 2, lr: float = 0.05) -> float:
    """Images/s of the tutorial loop: FashionMNIST dataset, per-sample PIL transforms, DataLoader."""
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.RandomCrop(28, padding=2), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    ds = datasets.FashionMNIST(root, train=True, transform=tf, download=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                                         drop_last=True, pin_memory=device.type == "cuda",
                                         persistent_workers=num_workers > 0)
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    it, done = iter(loader), 0
    warm = 3  # exclude worker start-up and first-call overheads, as for the engine
    for step in range(steps + warm):
        if step == warm:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done += step >= warm
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done * batch_size / (time.perf_counter() - t0)


def engine_loop(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int,
                batch_size: int, device: torch.device, compile: bool = False) -> float:
    """Images/s of ``lsutils.train.train`` for ``steps`` steps (after a short warm-up run)."""
    n = steps * batch_size
    cfg = train.TrainConfig(epochs=1.0, batch_size=batch_size, lr=0.05, eps=0.1, crop_padding=2, flip=True,
                            schedule="constant", compile=compile)
    train.train(copy.deepcopy(model), images[:3 * batch_size], labels[:3 * batch_size], cfg, device=device)
    _, hist = train.train(model, images[:n], labels[:n], cfg, device=device)
    return hist.images_per_s


def bench(arch: str = "resnet20", steps: int = 40, batch_size: int = 128, device: str | None = None,
          num_workers: int = 2, compile: bool = False) -> dict:
    """Run both loops and return {"engine": img/s, "plain": img/s, "ratio": engine / plain, ...}."""
    for name, value, low in (("steps", steps, 1), ("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    dev = torch.device(device) if device else train.default_device()
    images, labels = data.load_split("fashion_mnist", "train")
    if steps * batch_size > len(images):
        raise ValueError(f"steps × batch_size must be ≤ {len(images)} (one epoch), got {steps * batch_size}")
    torch.manual_seed(0)
    model = models.build(arch, (1, 28, 28), 10)
    engine = engine_loop(copy.deepcopy(model), images, labels, steps, batch_size, dev, compile)
    plain = plain_loop(copy.deepcopy(model), data.locate("fashion_mnist"), steps, batch_size, dev, num_workers)
    return {"arch": arch, "steps": steps, "batch_size": batch_size, "device": str(dev),
            "num_workers": num_workers, "engine": engine, "plain": plain, "ratio": engine / plain}
