r"""The unconstrained-features model (UFM) with label smoothing, in closed form and numerically.

The UFM treats the N = Kn penultimate features h_i as free parameters next to the last layer
(:math:`W \in \mathbb{R}^{K \times d}`, :math:`b \in \mathbb{R}^K`) and minimises

.. math::

   L(W, H, b) = \frac{1}{N} \sum_i H\bigl(q_i, \operatorname{softmax}(W h_i + b)\bigr)
   + \frac{\lambda_W}{2} \lVert W \rVert^2 + \frac{\lambda_H}{2} \sum_i \lVert h_i \rVert^2
   + \frac{\lambda_b}{2} \lVert b \rVert^2,

:math:`q_i = (1 - \varepsilon)\, e_{y_i} + \varepsilon / K` (uniform convention). ``closed_form`` gives its minimiser (the
chapter proves stationarity; ``fit`` checks global optimality numerically from random starts):
b = 0, every h of class k equal to μ_k = s·w_k with s = √(λ_W / (n λ_H)), the w_k a simplex
equiangular tight frame, and with a = ε/K + √(n λ_W λ_H) every wrong class gets probability a,

.. math::

   \text{margin} = z_y - z_j = \log \frac{1 - (K - 1)\, a}{a},

   \lVert w_k \rVert^2 = \frac{K - 1}{K} \cdot \text{margin} \cdot \sqrt{n \lambda_H / \lambda_W},

non-trivial (margin > 0) only when ε + K √(n λ_W λ_H) < 1.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

__all__ = ["closed_form", "simplex_etf", "minimiser", "objective", "fit", "hessian_condition"]


def _positive(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not (0 < x < math.inf):
        raise ValueError(f"{name} must be a finite real number > 0, got {x!r}")
    return float(x)


def _check(num_classes: int, n_per_class: int, eps: float) -> tuple[int, int, float]:
    for name, v in (("num_classes", num_classes), ("n_per_class", n_per_class)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (2 if name == "num_classes" else 1):
            raise ValueError(f"{name} must be an integer >= {2 if name == 'num_classes' else 1}, got {v!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
        raise ValueError(f"eps must be a real number in [0, 1), got {eps!r}")
    return int(num_classes), int(n_per_class), float(eps)


def closed_form(num_classes: int, n_per_class: int, eps: float, lambda_w: float, lambda_h: float) -> dict:
    """The UFM minimiser's numbers: wrong-class probability a, margin, ‖w_k‖², ‖μ_k‖², s, the loss.

    Raises ``ValueError`` when ε + K√(nλ_Wλ_H) ≥ 1: then the minimiser is W = H = 0 (collapse
    to a point), not a simplex.
    """
    k, n, eps = _check(num_classes, n_per_class, eps)
    lw, lh = _positive(lambda_w, "lambda_w"), _positive(lambda_h, "lambda_h")
    root = math.sqrt(n * lw * lh)
    if eps + k * root >= 1:
        raise ValueError(f"eps + K·sqrt(n·lambda_w·lambda_h) = {eps + k * root:.4g} must be < 1 for a "
                         "non-trivial minimiser (otherwise W = H = 0)")
    a = eps / k + root
    margin = math.log((1 - (k - 1) * a) / a)
    w_sq = (k - 1) / k * margin * math.sqrt(n * lh / lw)
    s = math.sqrt(lw / (n * lh))
    q_true, q_wrong = 1 - eps + eps / k, eps / k
    ce = -(q_true * math.log(1 - (k - 1) * a) + (k - 1) * q_wrong * math.log(a))
    loss = ce + lw / 2 * k * w_sq + lh / 2 * k * n * s * s * w_sq
    return {"a": a, "p_true": 1 - (k - 1) * a, "margin": margin, "w_norm_sq": w_sq,
            "feature_norm_sq": s * s * w_sq, "scale": s, "loss": loss}


def simplex_etf(num_classes: int, dim: int, dtype=torch.float64) -> torch.Tensor:
    """K unit vectors of dimension ``dim`` (≥ K − 1) with pairwise inner products −1/(K − 1): (K, dim)."""
    k, _, _ = _check(num_classes, 1, 0.0)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < k - 1:
        raise ValueError(f"dim must be an integer >= num_classes − 1 = {k - 1}, got {dim!r}")
    centred = torch.eye(k, dtype=dtype) - 1.0 / k             # rows span a (K − 1)-dim subspace
    basis = torch.linalg.svd(centred, full_matrices=False)[2][: k - 1]   # (K − 1, K) orthonormal
    coords = centred @ basis.T                                 # (K, K − 1)
    coords = coords / coords.norm(dim=1, keepdim=True)
    return F.pad(coords, (0, dim - (k - 1)))


def minimiser(num_classes: int, n_per_class: int, dim: int, eps: float, lambda_w: float,
              lambda_h: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W (K, d), H (N, d), b (K,), labels (N,)) of the closed form, float64; example i has
    class i // n_per_class."""
    cf = closed_form(num_classes, n_per_class, eps, lambda_w, lambda_h)
    w = simplex_etf(num_classes, dim) * math.sqrt(cf["w_norm_sq"])
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    return w, cf["scale"] * w[labels], torch.zeros(num_classes, dtype=torch.float64), labels


def objective(w: torch.Tensor, h: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, eps: float,
              lambda_w: float, lambda_h: float, lambda_b: float) -> torch.Tensor:
    """L(W, H, b) at the top of this page (mean smoothed cross-entropy plus the three penalties)."""
    _check(w.shape[0], 1, eps)
    for name, v in (("lambda_w", lambda_w), ("lambda_h", lambda_h), ("lambda_b", lambda_b)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (0 <= v < math.inf):
            raise ValueError(f"{name} must be a finite real number >= 0, got {v!r}")
    if h.shape[1] != w.shape[1] or labels.shape != (h.shape[0],) or b.shape != (w.shape[0],):
        raise ValueError(f"shapes must be w (K, d), h (N, d), b (K,), labels (N,); got w {tuple(w.shape)}, "
                         f"h {tuple(h.shape)}, b {tuple(b.shape)}, labels {tuple(labels.shape)}")
    ce = F.cross_entropy(h @ w.T + b, labels, label_smoothing=eps)
    return ce + lambda_w / 2 * w.pow(2).sum() + lambda_h / 2 * h.pow(2).sum() + lambda_b / 2 * b.pow(2).sum()


def fit(num_classes: int, n_per_class: int, dim: int, eps: float, lambda_w: float, lambda_h: float,
        lambda_b: float, seed: int = 0, max_iter: int = 5000) -> dict:
    """Minimise the UFM from a random start with L-BFGS (float64); return W, H, b, the loss and
    the number of iterations used."""
    k, n, eps = _check(num_classes, n_per_class, eps)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(k, dim, generator=gen, dtype=torch.float64).requires_grad_()
    h = torch.randn(k * n, dim, generator=gen, dtype=torch.float64).requires_grad_()
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    labels = torch.arange(k).repeat_interleave(n)
    opt = torch.optim.LBFGS([w, h, b], lr=1, max_iter=max_iter, tolerance_grad=1e-12, tolerance_change=1e-15,
                            history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(w, h, b, labels, eps, lambda_w, lambda_h, lambda_b)
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        loss = float(objective(w, h, b, labels, eps, lambda_w, lambda_h, lambda_b))
    iters = opt.state[opt._params[0]]["n_iter"]
    return {"w": w.detach(), "h": h.detach(), "b": b.detach(), "labels": labels, "loss": loss, "iterations": iters}


def hessian_condition(num_classes: int, n_per_class: int, dim: int, eps: float, lambda_w: float,
                      lambda_h: float, lambda_b: float, rel_tol: float = 1e-9) -> dict:
    """Eigenvalues of the Hessian of L at the closed-form minimiser (all of W, H, b) and the
    condition number λ_max / λ_min over the eigenvalues above ``rel_tol``·λ_max — the zero ones
    are the directions L cannot see (rotations of the feature space)."""
    if isinstance(rel_tol, bool) or not isinstance(rel_tol, numbers.Real) or not 0 < rel_tol < 1:
        raise ValueError(f"rel_tol must be a real number in (0, 1), got {rel_tol!r}")
    w, h, b, labels = minimiser(num_classes, n_per_class, dim, eps, lambda_w, lambda_h)
    sizes = (w.numel(), h.numel(), b.numel())

    def flat_objective(theta):
        tw, th, tb = torch.split(theta, sizes)
        return objective(tw.view_as(w), th.view_as(h), tb, labels, eps, lambda_w, lambda_h, lambda_b)
    theta = torch.cat([w.flatten(), h.flatten(), b])
    eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(flat_objective, theta))
    top = float(eig.max())
    kept = eig[eig > rel_tol * top]
    return {"eigenvalues": eig.tolist(), "min_eigenvalue": float(eig.min()), "condition": top / float(kept.min()),
            "zero_modes": int((eig.abs() <= rel_tol * top).sum())}
