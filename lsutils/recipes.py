"""The networks and training recipes the experiments share, each with the reason for its numbers.

An experiment's preset names a :class:`Network` (architecture, width, recipe) and builds it with
:func:`build_network`; the recipes are the paper's (:func:`paper_resnet`, :func:`paper_alexnet`)
and the book's short cosine recipe (:func:`cosine`), which the laptop-scale settings and the
60-epoch ResNet-56 runs use. They return ``train.TrainConfig``; ``eps`` and ``seed`` are set per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from lsutils import data, models, train

__all__ = ["Network", "build_network", "paper_resnet", "paper_alexnet", "cosine"]


@dataclass(frozen=True)
class Network:
    """One network of a preset: what ``models.build`` makes and how it is trained."""

    arch: str                 # models.build name: "alexnet", "resnet8", "resnet56", "mlp" (two hidden layers)
    width: int                # channels; for "mlp" the width of each hidden layer
    train: train.TrainConfig  # eps and seed are filled in per run
    # The paper's network this one stands in for ("resnet" or "alexnet"); "": the same family as arch.
    paper: str = field(default="", metadata={"omit_if_default": True})

    @property
    def family(self) -> str:
        """The family of the paper's network it stands for, "resnet" or "alexnet"."""
        return self.paper or ("resnet" if self.arch.startswith("resnet") else "alexnet")


def build_network(spec: Network, info: data.DatasetInfo) -> nn.Module:
    """``models.build`` of ``spec`` for data set ``info``: an MLP gets two hidden layers of
    ``spec.width`` units, any other architecture ``width`` channels."""
    if not isinstance(spec, Network):
        raise ValueError(f"spec must be a Network, got {type(spec).__name__}")
    shape = (info.channels, *info.image_size)
    if spec.arch == "mlp":
        return models.build("mlp", shape, info.num_classes, hidden=(spec.width, spec.width))
    return models.build(spec.arch, shape, info.num_classes, width=spec.width)


def paper_resnet(epochs: float, augment: bool = True) -> train.TrainConfig:
    """Müller et al.'s ResNet-56 recipe (CIFAR, their Section 2): SGD with Nesterov momentum 0.9,
    lr 0.1 divided by 10 at 50 % and 75 % of training, weight decay 10⁻⁴, gradient clipping 1.0,
    batch 128, random crop and flip (``augment=False``: neither, e.g. so that a teacher's logits
    on its training set are computed once). Only the length changes between presets."""
    extra = {"crop_padding": 2, "flip": True} if augment else {}
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.1, weight_decay=1e-4, schedule="step",
                             milestones=(0.5, 0.75), grad_clip=1.0, **extra)


def paper_alexnet(epochs: float) -> train.TrainConfig:
    """Müller et al.'s AlexNet recipe at the book's lengths: lr 0.1 divided by 10 at 1/3 and 2/3
    and weight decay 0.04 on the two hidden dense layers over 390k steps in the paper; at fewer
    steps that decay is too strong, so 0.004 (the TensorFlow CIFAR model's) and lr 0.05 are used;
    crop and flip, batch 128."""
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.05, weight_decay=4e-3,
                             weight_decay_scope="hidden_dense", schedule="step", milestones=(1 / 3, 2 / 3),
                             crop_padding=2, flip=True)


def cosine(epochs: float, lr: float, weight_decay: float = 5e-4, **extra) -> train.TrainConfig:
    """The book's short recipe: SGD (momentum 0.9), batch 128, a cosine schedule from ``lr``,
    weight decay 5 × 10⁻⁴, no clipping; ``extra`` are further ``TrainConfig`` fields
    (augmentation). On a laptop, a run with it reaches the terminal phase (the training set fitted)
    within minutes (measured: ResNet-8 at width 8 fits 5 000 images in 40 epochs; an MLP
    784-512-512 fits 10 000 in 30 at lr 0.05), and with lr 0.1 and weight decay 10⁻⁴ it trains
    ResNet-56 in 60 epochs."""
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=lr, weight_decay=weight_decay, schedule="cosine",
                             **extra)
