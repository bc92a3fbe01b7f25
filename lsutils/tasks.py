"""Tasks derived from a labelled split: a rare-positive binary task, class weights, label noise.

Each function is deterministic given its ``seed`` and returns new tensors (the inputs are never
modified), so an experiment's config fully fixes the task it trains on.
"""

from __future__ import annotations

from typing import Sequence

import torch

from lsutils.targets import check_labels, check_num_classes

__all__ = ["binary_task", "balanced_class_weights", "symmetric_label_noise"]


def binary_task(images: torch.Tensor, labels: torch.Tensor, positive_classes: Sequence[int],
                prevalence: float, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of the other classes as negatives (label 0) and a random subset of the
    ``positive_classes`` images (label 1), n₊ = round(π·n₋/(1 − π)) of them, so that positives
    make up a fraction π = ``prevalence`` of the task. Order: shuffled with ``seed``.
    Raises ``ValueError`` if the split holds fewer than n₊ positive images."""
    labels = check_labels(labels, num_classes)
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence must lie in (0, 1), got {prevalence!r}")
    pos_set = sorted(set(int(c) for c in positive_classes))
    if not pos_set or pos_set[0] < 0 or pos_set[-1] >= num_classes or len(pos_set) == num_classes:
        raise ValueError(f"positive_classes must be a non-empty proper subset of [0, {num_classes}), "
                         f"got {positive_classes!r}")
    is_pos = torch.isin(labels, torch.tensor(pos_set))
    neg_idx, pos_idx = torch.nonzero(~is_pos).squeeze(1), torch.nonzero(is_pos).squeeze(1)
    n_pos = round(prevalence * len(neg_idx) / (1 - prevalence))
    if n_pos < 1 or n_pos > len(pos_idx):
        raise ValueError(f"prevalence {prevalence} needs {n_pos} positive images, the split has {len(pos_idx)}")
    gen = torch.Generator().manual_seed(seed)
    keep_pos = pos_idx[torch.randperm(len(pos_idx), generator=gen)[:n_pos]]
    idx = torch.cat([neg_idx, keep_pos])
    idx = idx[torch.randperm(len(idx), generator=gen)]
    return images[idx], is_pos[idx].long()


def balanced_class_weights(labels: torch.Tensor, num_classes: int) -> tuple[float, ...]:
    r"""w_k = N / (K·n_k) (scikit-learn's "balanced"): every class then carries the same total
    weight N/K, and :math:`\sum_i w_{y_i} = N`. Raises ``ValueError`` if a class is absent."""
    k = check_num_classes(num_classes)
    counts = torch.bincount(check_labels(labels, k), minlength=k)
    if (counts == 0).any():
        raise ValueError(f"labels must contain every class in [0, {k}); absent: "
                         f"{torch.nonzero(counts == 0).squeeze(1).tolist()}")
    return tuple(float(len(labels) / (k * c)) for c in counts.tolist())


def symmetric_label_noise(labels: torch.Tensor, num_classes: int, rate: float,
                          seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt exactly round(rate·N) labels, chosen at random, each replaced by a class drawn
    uniformly from the K − 1 *other* classes (so every corrupted label is wrong; the variant that
    draws from all K classes flips only a fraction (K − 1)/K of the chosen ones).
    Returns (noisy labels, boolean mask of the corrupted positions)."""
    k = check_num_classes(num_classes)
    labels = check_labels(labels, k)
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must lie in [0, 1], got {rate!r}")
    gen = torch.Generator().manual_seed(seed)
    n_flip = round(rate * len(labels))
    chosen = torch.randperm(len(labels), generator=gen)[:n_flip]
    shift = torch.randint(1, k, (n_flip,), generator=gen)  # 1..K−1: never the original class
    noisy = labels.clone()
    noisy[chosen] = (labels[chosen] + shift) % k
    mask = torch.zeros(len(labels), dtype=torch.bool)
    mask[chosen] = True
    return noisy, mask
