"""Penultimate-layer geometry: the template-plane projection of the paper's Figure 1, NC1, distances.

Müller, Kornblith & Hinton (2019) write logit k as z_k = xᵀ w_k, with x the penultimate
activation **with a 1 appended** and w_k the class *template*: the last layer's weight row
with its bias appended. Everything here lives in that augmented space R^{D+1}:

* ``augment_templates`` / ``augment_features`` build w_k = [W_k, b_k] and x = [h, 1], so that
  ``augment_features(h) @ augment_templates(W, b).T`` equals the linear layer's logits;
* ``template_plane`` is the paper's projection: the affine plane through the three templates
  w_a, w_b, w_c, with origin w_a and an orthonormal basis from Gram–Schmidt on
  (w_b − w_a, w_c − w_a). It is neither PCA nor t-SNE: distances *within* the plane are
  Euclidean distances of the augmented space;
* ``project`` / ``project_templates`` give 2-D coordinates in that plane;
* ``nc1`` is the within-class variability collapse measure of Papyan, Han & Donoho (2020);
* ``template_distances`` / ``distance_summary`` / ``cluster_spread`` put numbers on the
  paper's "tight, equidistant clusters".

Geometric results are float64 tensors whatever the input dtype (penultimate features come
in float32, and differences of nearby templates lose digits there); ``augment_*`` keep the
input dtype because appending a column is exact.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from .targets import check_labels, check_num_classes

__all__ = [
    "augment_templates",
    "augment_features",
    "template_plane",
    "project_points",
    "project",
    "project_templates",
    "nc1",
    "template_distances",
    "distance_summary",
    "cluster_spread",
    "COLLINEAR_TOL",
    "NC1_RTOL",
]

# Relative tolerance below which three templates count as collinear: the plane is degenerate
# when ‖w_b − w_a‖ or ‖w_c − w_a‖ ≤ tol·max_k ‖w_k‖, or when the sine of the angle between
# the two edge vectors is ≤ tol. Float64 rounding sits near 1e-16, so 1e-10 rejects only
# planes whose second basis vector would be dominated by rounding noise.
COLLINEAR_TOL = 1e-10

# Relative cut-off of ``torch.linalg.pinv`` for Σ_B in ``nc1``: eigenvalues below
# NC1_RTOL·λ_max are treated as zero. Σ_B has rank ≤ min(K − 1, D) by construction, and its
# exact zero eigenvalues come out of float64 ``eigh`` at about 1e-16·λ_max; 1e-10 keeps them
# out of the inverse (where they would blow up as 1e16) while keeping any genuine direction
# between class means.
NC1_RTOL = 1e-10


# ----------------------------------------------------------------------------- validation

def _check_matrix(t: torch.Tensor, name: str, shape: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape {shape}, got "
                         f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D tensor of shape {shape}, got shape {tuple(t.shape)}")
    return t


def _check_vector(t: torch.Tensor, name: str, length: int, shape: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape {shape}, got "
                         f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")
    if t.dim() != 1 or t.shape[0] != length:
        raise ValueError(f"{name} must have shape {shape} = ({length},), got shape {tuple(t.shape)}")
    return t


def _check_layer(weight: torch.Tensor, bias: torch.Tensor) -> tuple[int, int]:
    """Validate a last layer (weight (K, D), bias (K,)) and return (K, D)."""
    _check_matrix(weight, "weight", "(K, D)")
    k, d = weight.shape
    _check_vector(bias, "bias", k, "(K,)")
    return k, d


def _check_features(features: torch.Tensor, dim: int) -> torch.Tensor:
    _check_matrix(features, "features", "(N, D)")
    if features.shape[1] != dim:
        raise ValueError(f"features must have D = {dim} columns (the weight's D, before the 1 is appended), "
                         f"got shape {tuple(features.shape)}")
    return features


def _check_classes(classes: Sequence[int] | torch.Tensor, num_classes: int) -> tuple[int, int, int]:
    if isinstance(classes, torch.Tensor):
        if classes.dtype.is_floating_point or classes.dtype.is_complex or classes.dtype == torch.bool:
            raise ValueError(f"classes must be 3 distinct integer indices in [0, {num_classes}), got dtype {classes.dtype}")
        classes = classes.reshape(-1).tolist()
    try:
        items = list(classes)
    except TypeError:
        raise ValueError(f"classes must be 3 distinct integer indices in [0, {num_classes}), got {classes!r}") from None
    if len(items) != 3 or any(isinstance(c, bool) or not isinstance(c, numbers.Integral) for c in items):
        raise ValueError(f"classes must be 3 distinct integer indices in [0, {num_classes}), got {items!r}")
    if any(not 0 <= c < num_classes for c in items) or len(set(items)) != 3:
        raise ValueError(f"classes must be 3 distinct integer indices in [0, {num_classes}) = [0, K), got {items!r}")
    return int(items[0]), int(items[1]), int(items[2])


def _check_plane(origin: torch.Tensor, basis: torch.Tensor) -> int:
    """Validate a plane (origin (D+1,), basis (2, D+1)) and return D + 1."""
    _check_matrix(basis, "basis", "(2, D+1)")
    if basis.shape[0] != 2:
        raise ValueError(f"basis must have shape (2, D+1), got shape {tuple(basis.shape)}")
    _check_vector(origin, "origin", basis.shape[1], "(D+1,)")
    return basis.shape[1]


def _check_labels_for(labels: torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    check_labels(labels, num_classes)
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape (N,) = ({n},) to match features, got shape {tuple(labels.shape)}")
    return labels


# ----------------------------------------------------------------------------- augmentation

def augment_templates(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Return the templates w_k = [W_k, b_k], shape (K, D+1), in the input dtype.

    With ``augment_features``: z = [h, 1] @ [W, b]ᵀ = h Wᵀ + b, the linear layer's logits.
    """
    _check_layer(weight, bias)
    return torch.cat([weight, bias.to(weight.dtype).unsqueeze(1)], dim=1)


def augment_features(features: torch.Tensor) -> torch.Tensor:
    """Return x = [h, 1] for each row h of ``features`` (N, D): shape (N, D+1), input dtype."""
    _check_matrix(features, "features", "(N, D)")
    return torch.cat([features, features.new_ones(features.shape[0], 1)], dim=1)


# ----------------------------------------------------------------------------- the plane

def template_plane(
    weight: torch.Tensor, bias: torch.Tensor, classes: Sequence[int] | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (origin, basis) of the affine plane through the templates of ``classes`` = (a, b, c).

    origin = w_a, shape (D+1,); basis (2, D+1) has orthonormal rows
    e₁ = u / ‖u‖,  e₂ = r / ‖r‖,  with u = w_b − w_a, v = w_c − w_a, r = v − (v·e₁) e₁,
    so w_a ↦ (0, 0), w_b ↦ (‖u‖, 0) and w_c lands in the upper half-plane. Float64.
    Raises ``ValueError`` if the three templates are (numerically) collinear; see COLLINEAR_TOL.
    """
    k, _ = _check_layer(weight, bias)
    a, b, c = _check_classes(classes, k)
    w = augment_templates(weight.to(torch.float64), bias.to(torch.float64))
    u, v = w[b] - w[a], w[c] - w[a]
    scale = torch.linalg.vector_norm(w[[a, b, c]], dim=1).max()
    nu, nv = torch.linalg.vector_norm(u), torch.linalg.vector_norm(v)
    if nu <= COLLINEAR_TOL * scale or nv <= COLLINEAR_TOL * scale:
        raise ValueError(f"classes {[a, b, c]}: two of the templates coincide, so the plane through them is degenerate")
    e1 = u / nu
    r = v - (v @ e1) * e1
    r = r - (r @ e1) * e1  # second Gram–Schmidt pass: keeps e₁·e₂ at rounding level when v is nearly parallel to u
    nr = torch.linalg.vector_norm(r)
    if nr <= COLLINEAR_TOL * nv:
        raise ValueError(f"classes {[a, b, c]}: the three templates are collinear, so the plane through them is degenerate")
    return w[a].clone(), torch.stack([e1, r / nr])


def project_points(points: torch.Tensor, origin: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Coordinates c = (p − origin) @ basisᵀ of points p already in R^{D+1}: shape (N, 2), float64.

    For orthonormal ``basis`` this is the orthogonal projection onto the affine plane, expressed
    in its basis; ``project`` is this applied to features with the 1 appended.
    """
    dim = _check_plane(origin, basis)
    _check_matrix(points, "points", "(N, D+1)")
    if points.shape[1] != dim:
        raise ValueError(f"points must have D+1 = {dim} columns to match basis, got shape {tuple(points.shape)}")
    f64 = torch.float64
    return (points.to(f64) - origin.to(f64)) @ basis.to(f64).T


def project(features: torch.Tensor, origin: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Project raw penultimate ``features`` h (N, D) onto the template plane: (N, 2), float64.

    The 1 is appended here: coords = ([h, 1] − origin) @ basisᵀ, matching the paper's
    logit z_k = [h, 1]·w_k. Pass the features *before* the last layer, not augmented ones.
    """
    dim = _check_plane(origin, basis)
    _check_features(features, dim - 1)
    return project_points(augment_features(features.to(torch.float64)), origin, basis)


def project_templates(
    weight: torch.Tensor,
    bias: torch.Tensor,
    classes: Sequence[int] | torch.Tensor,
    origin: torch.Tensor,
    basis: torch.Tensor,
) -> torch.Tensor:
    """Return the plane coordinates of the templates w_a, w_b, w_c (rows in ``classes`` order): (3, 2).

    coords = (w_k − origin) @ basisᵀ; templates already carry their bias, so no 1 is appended.
    """
    k, d = _check_layer(weight, bias)
    a, b, c = _check_classes(classes, k)
    if _check_plane(origin, basis) != d + 1:
        raise ValueError(f"origin and basis must live in R^(D+1) = R^{d + 1} to match weight, got basis shape {tuple(basis.shape)}")
    w = augment_templates(weight.to(torch.float64), bias.to(torch.float64))
    return project_points(w[[a, b, c]], origin, basis)


# ----------------------------------------------------------------------------- NC1

def _class_means(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=num_classes)
    sums = torch.zeros(num_classes, h.shape[1], dtype=h.dtype).index_add_(0, labels, h)
    return sums / counts.unsqueeze(1).to(h.dtype)


def nc1(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """NC1 = (1/K) tr(Σ_W Σ_B⁺) (Papyan, Han & Donoho 2020), computed in float64.

    Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ,  Σ_B = (1/K) Σ_k (μ_k − μ_G)(μ_k − μ_G)ᵀ,
    with μ_k the class means and μ_G = (1/K) Σ_k μ_k the **mean of the class means**. Papyan et
    al. use balanced data, where this equals the mean over examples; on an unbalanced sample
    (e.g. a validation split) the mean of class means keeps Σ_B the covariance of K equally
    weighted points, centred so that rank Σ_B ≤ K − 1 (the simplex geometry NC compares with),
    whereas the example mean would add a spurious rank-one term towards the frequent classes.
    Σ_B⁺ is ``torch.linalg.pinv(Σ_B, rtol=NC1_RTOL, hermitian=True)``: Σ_B is symmetric PSD, so
    the eigendecomposition route is exact and cheaper than an SVD; see NC1_RTOL for the cut-off.

    The raw penultimate features are used (no 1 appended: a constant coordinate changes neither
    Σ_W nor Σ_B). NC1 is invariant to translations and rotations of the features. Raises
    ``ValueError`` if a class is absent from ``labels`` or if all class means coincide (Σ_B = 0,
    NC1 undefined).
    """
    k = check_num_classes(num_classes)
    _check_matrix(features, "features", "(N, D)")
    _check_labels_for(labels, features.shape[0], k)
    labels = labels.long()
    missing = sorted(set(range(k)) - set(labels.unique().tolist()))
    if missing:
        raise ValueError(f"labels must contain every class in [0, {k}) = [0, num_classes); absent: {missing}")
    h = features.to(torch.float64)
    mu = _class_means(h, labels, k)
    within = h - mu[labels]
    sigma_w = within.T @ within / h.shape[0]
    between = mu - mu.mean(dim=0)
    sigma_b = between.T @ between / k
    if torch.linalg.vector_norm(between) <= 1e-12 * torch.linalg.vector_norm(mu, dim=1).max():
        raise ValueError("features: all class means coincide, so Σ_B = 0 and NC1 is undefined")
    return float(torch.trace(sigma_w @ torch.linalg.pinv(sigma_b, rtol=NC1_RTOL, hermitian=True)) / k)


# ----------------------------------------------------------------------------- distances

def template_distances(
    features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Euclidean distances d_ik = ‖[h_i, 1] − w_k‖ in the augmented space, float64.

    Returns ``{"all": (N, K) d_ik, "own": (N,) d_{i y_i}, "other": (N, K−1) d_ik for k ≠ y_i in
    increasing k}``. Note d_ik² = ‖h_i − W_k‖² + (1 − b_k)²: the bias enters as a coordinate,
    exactly as in the paper's templates. Computed pairwise without the ‖x‖² − 2x·w + ‖w‖²
    expansion, which cancels catastrophically for points close to their template.
    """
    k, d = _check_layer(weight, bias)
    _check_features(features, d)
    _check_labels_for(labels, features.shape[0], k)
    x = augment_features(features.to(torch.float64))
    w = augment_templates(weight.to(torch.float64), bias.to(torch.float64))
    dist = torch.cdist(x, w, compute_mode="donot_use_mm_for_euclid_dist")
    labels = labels.long()
    own_mask = torch.nn.functional.one_hot(labels, k).bool()
    return {"all": dist, "own": dist[own_mask], "other": dist[~own_mask].reshape(-1, k - 1)}


def distance_summary(distances: dict[str, torch.Tensor]) -> dict[str, float]:
    """Summarise ``template_distances`` output as floats.

    own_mean, own_std: mean and (population, 1/n) standard deviation of d_{i y_i};
    other_mean, other_std: the same over all N(K−1) distances to the other templates;
    ratio = own_mean / other_mean.

    "Tight, equidistant clusters" (the paper's finding with smoothing) reads: examples sit near
    their own template relative to the others (small ``ratio``) with little spread (small
    own_std / own_mean), and the distances to the wrong templates are all about the same
    (small other_std / other_mean), so no pair of classes is pulled towards each other.
    """
    if not isinstance(distances, dict) or not {"own", "other"} <= distances.keys():
        raise ValueError("distances must be the dict returned by template_distances (keys 'own', 'other')")
    own, other = distances["own"].to(torch.float64), distances["other"].to(torch.float64)
    if own.numel() == 0 or other.numel() == 0:
        raise ValueError("distances must hold at least one example and K >= 2 templates")
    om, oo = float(own.mean()), float(other.mean())
    return {
        "own_mean": om,
        "own_std": float(own.std(correction=0)),
        "other_mean": oo,
        "other_std": float(other.std(correction=0)),
        "ratio": om / oo,
    }


def cluster_spread(coords: torch.Tensor, labels: torch.Tensor) -> dict[int, float]:
    """Per-class tightness in the plane: {class: (1/n_c) Σ_{i: y_i = c} ‖coords_i − m_c‖}.

    m_c is the centroid of class c's 2-D coordinates; keys are the classes present in
    ``labels``, in increasing order. Float64; distances in the plane are true augmented-space
    distances because the basis is orthonormal.
    """
    _check_matrix(coords, "coords", "(N, 2)")
    if coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got shape {tuple(coords.shape)}")
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.dtype.is_complex \
            or labels.dtype == torch.bool or labels.dim() != 1:
        raise ValueError("labels must be a 1-D integer torch.Tensor of class indices >= 0, shape (N,)")
    if labels.shape[0] != coords.shape[0]:
        raise ValueError(f"labels must have shape (N,) = ({coords.shape[0]},) to match coords, got {tuple(labels.shape)}")
    if int(labels.min()) < 0:
        raise ValueError(f"labels must be class indices in [0, ∞), got minimum {int(labels.min())}")
    c = coords.to(torch.float64)
    out = {}
    for cls in labels.unique().tolist():
        pts = c[labels == cls]
        out[int(cls)] = float(torch.linalg.vector_norm(pts - pts.mean(dim=0), dim=1).mean())
    return out
