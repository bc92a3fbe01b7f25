"""The networks the book trains (an MLP, the paper's AlexNet-style CIFAR network, CIFAR ResNets).
Each exposes ``features(x)`` (the penultimate activation) and ``classifier`` (the
final linear layer, whose weight rows and bias are the "templates" of Müller et al. 2019).

All take images of any channel count and any size ≥ 28 × 28.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _check_positive_ints(name: str, values) -> tuple[int, ...]:
    values = tuple(values)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ValueError(f"{name} must hold integers >= 1, got {values!r}")
    return values


def _check_common(size: tuple[str, int], num_classes: int) -> None:
    """``size`` = (argument name, value): the input channels or features, an integer >= 1."""
    _check_positive_ints(size[0], (size[1],))
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")


class MLP(nn.Module):
    """Fully connected ReLU network on flattened images: in → hidden[0] → … → K."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int, dropout: float = 0.0):
        super().__init__()
        _check_common(("in_features", in_features), num_classes)
        hidden = _check_positive_ints("hidden", hidden)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
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
    """An MLP for images of shape (C, H, W); ``hidden=()`` is softmax regression.

    The paper's MNIST teacher is ``hidden=(1200, 1200)``, its student ``(800, 800)``.
    """
    return MLP(math.prod(image_shape), tuple(hidden), num_classes, dropout)


class AlexNet(nn.Module):
    """The small AlexNet-style CIFAR network (the cuda-convnet / TensorFlow CIFAR-10 tutorial model):
    two 5×5 conv layers of ``width`` channels, each with ReLU, 3×3/2 max-pooling and local response
    normalisation, then dense 384 → 192 → K. ``features`` is the 192-d activation."""

    def __init__(self, in_channels: int, num_classes: int, image_size: tuple[int, int], width: int = 64,
                 dense: tuple[int, int] = (384, 192)):
        super().__init__()
        _check_common(("in_channels", in_channels), num_classes)
        _check_positive_ints("width", (width,))
        _check_positive_ints("dense", dense)
        if len(tuple(image_size)) != 2 or min(image_size) < 8:
            raise ValueError(f"image_size must be (H, W) with both >= 8, got {image_size!r}")
        # TF's lrn(depth_radius=4, bias=1, alpha=0.001/9, beta=0.75); torch divides alpha by size=9
        lrn = dict(size=9, alpha=0.001, beta=0.75, k=1.0)
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, padding=1), nn.LocalResponseNorm(**lrn),
            nn.Conv2d(width, width, 5, padding=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn), nn.MaxPool2d(3, 2, padding=1),
            nn.Flatten())
        with torch.no_grad():  # infer the flattened size for this image size
            flat = self.conv(torch.zeros(1, in_channels, *image_size)).shape[1]
        self.dense = nn.Sequential(nn.Linear(flat, dense[0]), nn.ReLU(inplace=True),
                                   nn.Linear(dense[0], dense[1]), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(dense[1], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def alexnet(in_channels: int, num_classes: int, image_size: tuple[int, int] = (32, 32), width: int = 64,
            dense: tuple[int, int] = (384, 192)) -> AlexNet:
    return AlexNet(in_channels, num_classes, tuple(image_size), width, tuple(dense))


class BasicBlock(nn.Module):
    """3×3 conv–BN–ReLU–3×3 conv–BN plus a shortcut. The shortcut is He et al.'s option A
    (subsample and zero-pad the channels): parameter-free, which is what gives ResNet-56 its 0.85 M."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        if not 1 <= c_in <= c_out:
            raise ValueError(f"c_in must lie in [1, c_out] (the shortcut pads channels), got {c_in}, {c_out}")
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet of He et al. (2016): a 3×3 stem, 3 stages of (depth − 2)/6 basic blocks with
    ``width``, 2·width, 4·width channels (16/32/64), global average pooling, a linear classifier."""

    def __init__(self, depth: int, in_channels: int, num_classes: int, width: int = 16):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n ≥ 1 (8, 14, 20, …, 56, 110), got {depth}")
        _check_common(("in_channels", in_channels), num_classes)
        _check_positive_ints("width", (width,))
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        blocks, c = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(c, c_out, 2 if stage > 0 and i == 0 else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def resnet(depth: int, in_channels: int = 3, num_classes: int = 10, width: int = 16) -> ResNet:
    """``resnet(56)`` is the paper's ResNet-56 (≈ 0.85 M parameters); ``resnet(20)`` a lighter sibling."""
    return ResNet(depth, in_channels, num_classes, width)


def classifier_weights(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The final layer's weight ``W`` (K × d: the paper's templates, one row per class) and bias
    ``b`` of ``model``, detached, on the CPU, in float64."""
    layer = getattr(model, "classifier", None)
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"model must have a linear classifier, got {type(model).__name__}")
    return layer.weight.detach().cpu().double(), layer.bias.detach().cpu().double()


def build(arch: str, image_shape: tuple[int, int, int], num_classes: int, **kwargs) -> nn.Module:
    """A model by name — ``"mlp"``, ``"alexnet"``, ``"resnet<depth>"`` (e.g. ``"resnet20"``) — for
    (C, H, W) images."""
    c, h, w = image_shape
    if arch == "mlp":
        return mlp(image_shape, num_classes, **kwargs)
    if arch == "alexnet":
        return alexnet(c, num_classes, (h, w), **kwargs)
    if arch.startswith("resnet") and arch[6:].isdigit():
        return resnet(int(arch[6:]), c, num_classes, **kwargs)
    raise ValueError(f"arch must be 'mlp', 'alexnet' or 'resnet<depth>', got {arch!r}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
