"""Models. Each exposes ``features(x)`` (the penultimate activation) and ``classifier`` (the
final linear layer, whose weight rows and bias are the "templates" of Müller et al. 2019)."""

from __future__ import annotations

import math

import torch
from torch import nn


class MLP(nn.Module):
    """Fully connected ReLU network on flattened images: in → hidden[0] → … → K."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def mlp(image_shape: tuple[int, int, int], num_classes: int, hidden: tuple[int, ...] = (256,),
        dropout: float = 0.0) -> MLP:
    """An MLP for images of shape (C, H, W); ``hidden=()`` is softmax regression."""
    return MLP(math.prod(image_shape), tuple(hidden), num_classes, dropout)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
