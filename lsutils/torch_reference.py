r"""What ``torch.nn.functional.cross_entropy`` computes, written out term by term.

``reference_cross_entropy`` mirrors the signature of ``F.cross_entropy`` for logits of shape
(N, K) and spells out the formula PyTorch applies, so that a chapter can state it and a test
can hold it to PyTorch. With class-index targets y_i, class weights w (all ones when
``weight`` is None), smoothing ε and the uniform smoothed target
q_i = (1 − ε)·onehot(y_i) + ε/K, the loss of row i is

.. math::

   \ell_i = (1 - \varepsilon)\, w_{y_i} \, (-\log p_{i, y_i})
   + \frac{\varepsilon}{K} \sum_k w_k \, (-\log p_{ik})
   = -\sum_k w_k \, q_{ik} \log p_{ik}.

Each class term carries the weight *of that class*, not the weight of the row's label. Rows
whose label equals ``ignore_index`` contribute 0 to both terms. The reductions are

* ``"none"``: the vector ℓ (0 at ignored rows);
* ``"sum"``:  Σ_i ℓ_i;
* ``"mean"``: :math:`\sum_i \ell_i \big/ \sum_{i \text{ kept}} w_{y_i}`, the number of kept rows when ``weight`` is None;
  when every row is ignored this is 0/0 = nan.

With probability targets (a floating-point (N, K) tensor t) PyTorch smooths *again*,
t̃ = (1 − ε)·t + ε/K, computes :math:`\ell_i = -\sum_k w_k \, \tilde t_{ik} \log p_{ik}`, and ``"mean"`` divides by N
whatever the weights; ``ignore_index`` is not available for probability targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .losses import REDUCTIONS
from .targets import check_eps, check_num_classes

__all__ = ["reference_cross_entropy"]


def reference_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Return what ``F.cross_entropy(logits, target, ...)`` returns, from the written-out formula.

    ``logits``: (N, K). ``target``: (N,) class indices (``ignore_index`` allowed) or (N, K)
    probabilities. ``weight``: (K,) class weights or None. See the top of this page for the
    formula and the reductions.
    """
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point or logits.dim() != 2:
        raise ValueError("logits must be a floating-point torch.Tensor of shape (N, K)")
    k = check_num_classes(logits.shape[1])
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    eps = check_eps(label_smoothing, name="label_smoothing")
    w = torch.ones(k, dtype=logits.dtype) if weight is None else weight.to(logits.dtype)
    if w.shape != (k,):
        raise ValueError(f"weight must have shape (K,) = ({k},), got {tuple(w.shape)}")
    logp = F.log_softmax(logits, dim=-1)

    if target.dtype.is_floating_point:
        if target.shape != logits.shape:
            raise ValueError(f"probability targets must have shape {tuple(logits.shape)}, got {tuple(target.shape)}")
        smoothed = (1.0 - eps) * target.to(logits.dtype) + eps / k
        loss = -(w * smoothed * logp).sum(dim=-1)
        if reduction == "mean":
            return loss.sum() / logits.shape[0]
        return loss.sum() if reduction == "sum" else loss

    if target.shape != (logits.shape[0],):
        raise ValueError(f"class-index targets must have shape ({logits.shape[0]},), got {tuple(target.shape)}")
    kept = target != ignore_index
    labels = torch.where(kept, target, torch.zeros_like(target))
    if bool(((labels < 0) | (labels >= k)).any()):
        raise ValueError(f"class indices must lie in [0, {k}) or equal ignore_index={ignore_index}")
    nll = -logp.gather(1, labels.unsqueeze(1)).squeeze(1)
    loss = (1.0 - eps) * w[labels] * nll
    if eps != 0.0:
        loss = loss + (eps / k) * (-(w * logp).sum(dim=-1))
    loss = torch.where(kept, loss, torch.zeros_like(loss))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / torch.where(kept, w[labels], torch.zeros_like(loss)).sum()
