r"""Penultimate-layer geometry: the template-plane projection of the paper's Figure 1, neural
collapse, distances.

Müller, Kornblith & Hinton (2019) write logit k as z_k = xᵀ w_k, with x the penultimate
activation **with a 1 appended** and w_k the class *template*: the last layer's weight row
with its bias appended. Everything here lives in that augmented space :math:`\mathbb{R}^{D+1}`:

* ``augment_templates`` / ``augment_features`` build w_k = [W_k, b_k] and x = [h, 1], so that
  ``augment_features(h) @ augment_templates(W, b).T`` equals the linear layer's logits;
* ``template_plane`` is the paper's projection: the affine plane through the three templates
  w_a, w_b, w_c, with origin w_a and an orthonormal basis from Gram–Schmidt on
  (w_b − w_a, w_c − w_a). It is neither PCA nor t-SNE: distances *within* the plane are
  Euclidean distances of the augmented space;
* ``project`` / ``project_templates`` give 2-D coordinates in that plane;
* ``nc1`` … ``nc4`` are the neural-collapse measures of Papyan, Han & Donoho (2020): within-class
  variability, the simplex-ETF shape of the centred class means (``nc2``; ``nc2_templates`` for
  the classifier rows), self-duality of means and classifier, and agreement with the
  nearest-class-centre rule. All are scale-free and, like Papyan et al., use the raw features h
  (no 1 appended) and the weight W and bias b separately;
* ``class_mean_distances`` / ``distance_confusion_correlation`` ask whether classes whose
  means lie close together are the ones the network confuses;
* ``template_distances`` / ``distance_summary`` / ``cluster_spread`` put numbers on the
  paper's "tight, equidistant clusters".

Geometric results are float64 tensors whatever the input dtype (penultimate features come
in float32, and differences of nearby templates lose digits there); ``augment_*`` keep the
input dtype because appending a column is exact. Computations stay on the input's device;
tensor arguments that are combined must share it, except ``labels``, which are index data and
are moved to the features' device. Every tensor argument must be finite.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from .targets import check_labels, check_num_classes

__all__ = [
    "relative_closeness",
    "centroid_distances",
    "augment_templates",
    "augment_features",
    "template_plane",
    "project_points",
    "project",
    "project_templates",
    "nc1",
    "nc2",
    "class_separation",
    "nc2_templates",
    "nc3",
    "nc4",
    "class_mean_distances",
    "distance_confusion_correlation",
    "template_distances",
    "distance_summary",
    "cluster_spread",
    "COLLINEAR_TOL",
    "NC1_RTOL",
    "ZERO_RTOL",
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

# Relative tolerance below which a vector counts as zero against the scale of the data it came
# from: the centred class means M_k = μ_k − μ_G carry rounding noise of order 1e-16·max_k ‖μ_k‖,
# so "all class means coincide" (and "M_k = 0", whose angle is undefined) is ‖·‖ ≤ ZERO_RTOL·scale.
ZERO_RTOL = 1e-12

# Label dtypes wider than int64's range would wrap on conversion; the narrower unsigned ones are
# converted exactly (torch has no min/max kernels for them, so check_labels cannot read them).
_WIDE_UNSIGNED = tuple(getattr(torch, n) for n in ("uint16", "uint32") if hasattr(torch, n))
_UINT64 = getattr(torch, "uint64", None)


# ----------------------------------------------------------------------------- validation

def _check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    # NaN would otherwise flow through as NaN results (or an opaque linear-algebra error in nc1)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite (contains NaN or inf)")
    return t


def _check_device(t: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> None:
    if t.device != ref.device:
        raise ValueError(f"{name} must be on the same device as {ref_name} ({ref.device}), got {t.device}")


def _check_matrix(t: torch.Tensor, name: str, shape: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape {shape}, got "
                         f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D tensor of shape {shape}, got shape {tuple(t.shape)}")
    return _check_finite(t, name)


def _check_vector(t: torch.Tensor, name: str, length: int, shape: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape {shape}, got "
                         f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")
    if t.dim() != 1 or t.shape[0] != length:
        raise ValueError(f"{name} must have shape {shape} = ({length},), got shape {tuple(t.shape)}")
    return _check_finite(t, name)


def _check_layer(weight: torch.Tensor, bias: torch.Tensor) -> tuple[int, int]:
    """Validate a last layer (weight (K, D), bias (K,)) and return (K, D)."""
    _check_matrix(weight, "weight", "(K, D)")
    k, d = weight.shape
    _check_vector(bias, "bias", k, "(K,)")
    _check_device(bias, "bias", weight, "weight")
    return k, d


def _check_features(features: torch.Tensor, dim: int, ref: torch.Tensor, ref_name: str) -> torch.Tensor:
    _check_matrix(features, "features", "(N, D)")
    if features.shape[1] != dim:
        raise ValueError(f"features must have D = {dim} columns (the weight's D, before the 1 is appended), "
                         f"got shape {tuple(features.shape)}")
    _check_device(features, "features", ref, ref_name)
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
    _check_device(origin, "origin", basis, "basis")
    return basis.shape[1]


def _widen_labels(labels: torch.Tensor) -> torch.Tensor:
    """uint16/uint32 labels as int64 (exact); uint64 rejected. Other inputs pass unchanged."""
    if not isinstance(labels, torch.Tensor):
        return labels
    if _UINT64 is not None and labels.dtype == _UINT64:
        raise ValueError("labels must have an integer dtype that int64 holds exactly "
                         "(int8/16/32/64 or uint8/16/32), got torch.uint64")
    return labels.long() if labels.dtype in _WIDE_UNSIGNED else labels


def _check_labels_for(labels: torch.Tensor, n: int, num_classes: int, device: torch.device) -> torch.Tensor:
    """Validate labels (N,) in [0, K) and return them as int64 on ``device``.

    int64 matters beyond range: a uint8 tensor used as an index is read as a boolean mask.
    """
    labels = check_labels(_widen_labels(labels), num_classes)
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape (N,) = ({n},) to match features, got shape {tuple(labels.shape)}")
    return labels.to(device=device, dtype=torch.int64)


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
    Raises ``ValueError`` if the three templates are (numerically) collinear; see ``COLLINEAR_TOL``.
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
    r"""Coordinates c = (p − origin) @ basisᵀ of points p already in
    :math:`\mathbb{R}^{D+1}`: shape (N, 2), float64.

    For orthonormal ``basis`` this is the orthogonal projection onto the affine plane, expressed
    in its basis; ``project`` is this applied to features with the 1 appended.
    """
    dim = _check_plane(origin, basis)
    _check_matrix(points, "points", "(N, D+1)")
    if points.shape[1] != dim:
        raise ValueError(f"points must have D+1 = {dim} columns to match basis, got shape {tuple(points.shape)}")
    _check_device(points, "points", basis, "basis")
    f64 = torch.float64
    return (points.to(f64) - origin.to(f64)) @ basis.to(f64).T


def project(features: torch.Tensor, origin: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Project raw penultimate ``features`` h (N, D) onto the template plane: (N, 2), float64.

    The 1 is appended here: coords = ([h, 1] − origin) @ basisᵀ, matching the paper's
    logit z_k = [h, 1]·w_k. Pass the features *before* the last layer, not augmented ones.
    """
    dim = _check_plane(origin, basis)
    _check_features(features, dim - 1, basis, "basis")
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
    _check_device(weight, "weight", basis, "basis")
    w = augment_templates(weight.to(torch.float64), bias.to(torch.float64))
    return project_points(w[[a, b, c]], origin, basis)


# ----------------------------------------------------------------------------- class means

def _class_means(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """μ_k = (1/n_k) Σ_{i: y_i = k} h_i: (K, D) in h's dtype, on h's device."""
    counts = torch.bincount(labels, minlength=num_classes)
    sums = torch.zeros(num_classes, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, labels, h)
    return sums / counts.unsqueeze(1).to(h.dtype)


def _class_stats(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate (features, labels, K) with every class present; return float64 h, int64 labels, μ (K, D)."""
    k = check_num_classes(num_classes)
    _check_matrix(features, "features", "(N, D)")
    labels = _check_labels_for(labels, features.shape[0], k, features.device)
    missing = torch.nonzero(torch.bincount(labels, minlength=k) == 0).flatten().tolist()
    if missing:
        raise ValueError(f"labels must contain every class in [0, {k}) = [0, num_classes); absent: {missing}")
    h = features.to(torch.float64)
    return h, labels, _class_means(h, labels, k)


def _centred_means(mu: torch.Tensor, what: str) -> torch.Tensor:
    """M_k = μ_k − μ_G with μ_G = (1/K) Σ_k μ_k; ValueError if all class means coincide.

    "Coincide" is ‖M‖_F ≤ ZERO_RTOL·max_k ‖μ_k‖: the rounding noise of μ_k − μ_G scales with ‖μ_k‖.
    """
    centred = mu - mu.mean(dim=0)
    if torch.linalg.vector_norm(centred) <= ZERO_RTOL * torch.linalg.vector_norm(mu, dim=1).max():
        raise ValueError(f"features: all class means coincide (Σ_B = 0), so {what} is undefined")
    return centred


def _norms_and_angles(v: torch.Tensor, scale: torch.Tensor, name: str, what: str) -> dict[str, float]:
    """Papyan's NC2 numbers for the rows v_k of ``v`` (K, D):

    equinorm = std_k ‖v_k‖ / mean_k ‖v_k‖,  equiangular = mean_{k≠k'} abs(cos(v_k, v_k') + 1/(K−1)),
    angle_std = std_{k≠k'} cos(v_k, v_k'); std is the population (1/n) one. A row with
    ‖v_k‖ ≤ ZERO_RTOL·scale has no direction and raises ValueError.
    """
    k = v.shape[0]
    norms = torch.linalg.vector_norm(v, dim=1)
    zero = torch.nonzero(norms <= ZERO_RTOL * scale).flatten().tolist()
    if zero:
        raise ValueError(f"{name}: {what} {zero} is zero, so its angle to the others is undefined")
    u = v / norms.unsqueeze(1)
    off_diagonal = ~torch.eye(k, dtype=torch.bool, device=v.device)
    cos = (u @ u.T)[off_diagonal]
    return {
        "equinorm": float(norms.std(correction=0) / norms.mean()),
        "equiangular": float((cos + 1.0 / (k - 1)).abs().mean()),
        "angle_std": float(cos.std(correction=0)),
    }


# ----------------------------------------------------------------------------- NC1 … NC4

def nc1(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    r"""NC1 = (1/K) tr(Σ_W Σ_B⁺) (Papyan, Han & Donoho 2020), computed in float64.

    .. math::

       \Sigma_W = \frac{1}{N} \sum_i (h_i - \mu_{y_i})(h_i - \mu_{y_i})^\top,

       \Sigma_B = \frac{1}{K} \sum_k (\mu_k - \mu_G)(\mu_k - \mu_G)^\top,

    with μ_k the class means and μ_G = (1/K) Σ_k μ_k the **mean of the class means**. Papyan et
    al. use balanced data, where this equals the mean over examples; on an unbalanced sample
    (e.g. a validation split) the mean of class means keeps Σ_B the covariance of K equally
    weighted points, centred so that rank Σ_B ≤ K − 1 (the simplex geometry NC compares with),
    whereas the example mean would add a spurious rank-one term towards the frequent classes.
    Σ_B⁺ is the pseudo-inverse with eigenvalues below ``NC1_RTOL`` × the largest cut off. It is
    never formed: with the SVD of the K × d matrix M of centred class means, M = U S Vᵀ, Σ_B =
    V (S²/K) Vᵀ, so NC1 = Σ_i ‖W v_i‖² / (N s_i²) over the kept singular pairs, W the N × d
    within-class deviations — O(N d K) instead of the O(N d² + d³) of Σ_W and ``pinv`` (at d =
    1024 and N = 5 000, about 100× less work; the tests compare both routes).

    The raw penultimate features are used (no 1 appended: a constant coordinate changes neither
    Σ_W nor Σ_B). NC1 is invariant to translations, rotations and scalings of the features; it
    is 0 when every example sits at its class mean. Raises ``ValueError`` if a class is absent
    from ``labels`` or if all class means coincide (Σ_B = 0, NC1 undefined).
    """
    h, labels, mu = _class_stats(features, labels, num_classes)
    between = _centred_means(mu, "NC1")
    within = h - mu[labels]
    _, s, vh = torch.linalg.svd(between, full_matrices=False)
    keep = s ** 2 > NC1_RTOL * s[0] ** 2
    spread = (within @ vh[keep].T).pow(2).sum(0)       # ‖W v_i‖² for each kept direction
    return float((spread / s[keep] ** 2).sum() / h.shape[0])


def nc2(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    """NC2 of the centred class means M_k = μ_k − μ_G (Papyan, Han & Donoho 2020), float64.

    Returns a dict with ``equinorm`` = std_k ‖M_k‖ / mean_k ‖M_k‖,
    ``equiangular`` = mean over k ≠ k' of abs(cos(M_k, M_k') + 1/(K−1)) and
    ``angle_std`` = std over k ≠ k' of cos(M_k, M_k'), with μ_G the mean of the class means
    (as in ``nc1``) and population (1/n) standard deviations (Papyan's code uses torch's n − 1 default, larger by √(n/(n−1))). A simplex
    equiangular tight frame (‖M_k‖ all equal, cos = −1/(K−1) for every pair) gives 0 for all
    three. Scale-, rotation- and translation-invariant. Raises ``ValueError`` if a class is
    absent, all class means coincide, or one centred mean is zero (its angle is undefined).
    """
    _, _, mu = _class_stats(features, labels, num_classes)
    centred = _centred_means(mu, "NC2")
    scale = torch.linalg.vector_norm(mu, dim=1).max()
    return _norms_and_angles(centred, scale, "features", "the centred mean M_k = μ_k − μ_G of class(es)")


def nc2_templates(weight: torch.Tensor) -> dict[str, float]:
    r"""NC2 of the classifier rows w_k of ``weight`` (K, D): the same three numbers as ``nc2``.

    .. math::

       \text{equinorm} = \operatorname{std}_k \lVert w_k \rVert
       \big/ \operatorname{mean}_k \lVert w_k \rVert,

       \text{equiangular} = \operatorname{mean}_{k \ne k'}
       \Bigl| \cos(w_k, w_{k'}) + \frac{1}{K - 1} \Bigr|,

       \mathrm{angle\_std} = \operatorname{std}_{k \ne k'} \cos(w_k, w_{k'}).

    The rows are used **as they are**, neither centred
    nor augmented with the bias, following Papyan, Han & Donoho (2020), whose NC2 for W asks
    that the rows themselves form a simplex ETF about the origin: a common offset added to every
    row therefore counts against collapse here, whereas ``nc2`` removes μ_G from the means.
    """
    _check_matrix(weight, "weight", "(K, D)")
    if weight.shape[0] < 2:
        raise ValueError(f"weight must have K >= 2 rows (one per class), got shape {tuple(weight.shape)}")
    w = weight.to(torch.float64)
    return _norms_and_angles(w, torch.linalg.vector_norm(w, dim=1).max(), "weight", "row(s) w_k")


def nc3(features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight: torch.Tensor) -> float:
    """NC3 (self-duality) = ‖ W/‖W‖_F − Mᵀ/‖M‖_F ‖_F², float64.

    W is the (K, D) classifier weight and M the D×K matrix whose columns are the centred class
    means M_k = μ_k − μ_G (so Mᵀ is K×D, like W). It lies in [0, 4] and is 0 exactly when
    W = c·Mᵀ for some c > 0; it is invariant to scaling either W or the features, and to a
    rotation applied to both. The bias plays no part (Papyan, Han & Donoho 2020).
    """
    _, _, mu = _class_stats(features, labels, num_classes)
    k, d = mu.shape
    _check_matrix(weight, "weight", "(K, D)")
    if tuple(weight.shape) != (k, d):
        raise ValueError(f"weight must have shape (K, D) = ({k}, {d}) to match num_classes and features, "
                         f"got shape {tuple(weight.shape)}")
    _check_device(weight, "weight", features, "features")
    centred = _centred_means(mu, "NC3")
    w = weight.to(torch.float64)
    w_norm = torch.linalg.vector_norm(w)
    if not bool(w_norm > 0):
        raise ValueError("weight must not be all zeros (W/‖W‖_F is undefined)")
    return float(torch.linalg.vector_norm(w / w_norm - centred / torch.linalg.vector_norm(centred)) ** 2)


def nc4(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight: torch.Tensor, bias: torch.Tensor
) -> float:
    """NC4 = (1/N) #{i : argmax_k (W h_i + b)_k ≠ argmin_k ‖h_i − μ_k‖}, float64 arithmetic.

    The fraction of examples on which the linear classifier and the nearest-class-centre rule
    disagree (Papyan, Han & Donoho 2020); 0 is full agreement. The class means μ_k come from
    the same ``features`` and ``labels`` (pass the training features for Papyan's measure);
    the labels enter only through them. Ties go to the lowest class index in both rules.
    Invariant to a common scaling of features and bias, and to scaling W.
    """
    k, d = _check_layer(weight, bias)
    if k != check_num_classes(num_classes):
        raise ValueError(f"weight must have K = num_classes = {num_classes} rows, got shape {tuple(weight.shape)}")
    _check_features(features, d, weight, "weight")
    h, _, mu = _class_stats(features, labels, num_classes)
    f64 = torch.float64
    network = (h @ weight.to(f64).T + bias.to(f64)).argmax(dim=1)
    nearest = torch.cdist(h, mu, compute_mode="donot_use_mm_for_euclid_dist").argmin(dim=1)
    return float((network != nearest).to(f64).mean())


# ----------------------------------------------------------------------------- class similarity

def class_separation(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    r"""R² = 1 − d̄_within / d̄_total (Kornblith et al. 2021), d = 1 − cosine similarity, float64.

    d̄_within averages d over same-class pairs within each class, then over classes; d̄_total
    over all pairs of classes (k, l), each the mean of d between their members — self-pairs
    included in both. With μ̂_k the mean of the L2-normalised features of class k this is
    :math:`\bar d_\text{within} = 1 - \frac{1}{K} \sum_k \lVert \hat\mu_k \rVert^2` and
    :math:`\bar d_\text{total} = 1 - \bigl\lVert \frac{1}{K} \sum_k \hat\mu_k \bigr\rVert^2`. 1: every class one
    direction; 0: classes indistinguishable by angle.
    """
    h, labels, _ = _class_stats(features, labels, num_classes)
    norms = h.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("features must not contain a zero vector (its cosine similarity is undefined)")
    mu = _class_means(h / norms, labels, num_classes)
    within = 1 - mu.pow(2).sum(1).mean()
    total = 1 - mu.mean(0).pow(2).sum()
    if float(total) <= 0:
        raise ValueError("all features point one way (d̄_total = 0): R² is undefined")
    return float(1 - within / total)


def class_mean_distances(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    r""":math:`D_{kl} = \lVert \mu_k - \mu_l \rVert \,/\, \operatorname{mean}_{k' \ne l'}
    \lVert \mu_{k'} - \mu_{l'} \rVert`: (K, K) float64, zero diagonal.

    Euclidean distances between class means, divided by their mean over the K(K − 1)
    off-diagonal entries so that the matrix is scale-free (its off-diagonal mean is 1).
    Computed pairwise (no ‖a‖² − 2a·b + ‖b‖² expansion). Raises ``ValueError`` if a class is
    absent or all class means coincide.
    """
    _, _, mu = _class_stats(features, labels, num_classes)
    _centred_means(mu, "the normalised distance between class means")  # the all-coincide check
    k = mu.shape[0]
    dist = torch.cdist(mu, mu, compute_mode="donot_use_mm_for_euclid_dist")
    return dist / (dist.sum() / (k * (k - 1)))


def _check_confusion(confusion: torch.Tensor, k: int, ref: torch.Tensor) -> torch.Tensor:
    """Validate counts (K, K), integer or floating, finite and >= 0; return them as float64."""
    if not isinstance(confusion, torch.Tensor) or confusion.dtype == torch.bool or confusion.dtype.is_complex:
        got = confusion.dtype if isinstance(confusion, torch.Tensor) else type(confusion).__name__
        raise ValueError(f"confusion must be a real (integer or floating) torch.Tensor of shape (K, K) = ({k}, {k}), "
                         f"got {got}")
    if tuple(confusion.shape) != (k, k):
        raise ValueError(f"confusion must have shape (K, K) = ({k}, {k}) to match distances, "
                         f"got {tuple(confusion.shape)}")
    _check_device(confusion, "confusion", ref, "distances")
    c = _check_finite(confusion.to(torch.float64), "confusion")
    if bool((c < 0).any()):
        raise ValueError("confusion must hold counts >= 0")
    return c


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based ranks of the entries of ``x``; tied entries share the mean of the ranks they span.

    For a distinct value v with c copies and ≤-count n_≤ (ranks n_≤ − c + 1 … n_≤) that mean is
    n_≤ − (c − 1)/2. Ties are exact equality.
    """
    _, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, dim=0).to(torch.float64)
    return (last - (counts.to(torch.float64) - 1) / 2)[inverse]


def _spearman(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str]) -> float:
    """Spearman's ρ = Pearson correlation of the average ranks of x and y."""
    rx, ry = _average_ranks(x), _average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    for r, name in ((rx, names[0]), (ry, names[1])):
        if not bool(r.abs().max() > 0):
            raise ValueError(f"{name}: all off-diagonal values are equal, so the rank correlation is undefined")
    return float((rx @ ry) / torch.sqrt((rx @ rx) * (ry @ ry)))


def distance_confusion_correlation(distances: torch.Tensor, confusion: torch.Tensor) -> float:
    """Spearman's ρ between class-mean distances and how often the two classes are confused.

    Over the K(K − 1)/2 pairs k < l, ρ is the Pearson correlation of the average ranks (ties
    share their mean rank) of D_kl (upper triangle of ``distances``, e.g. from
    ``class_mean_distances``) and of the symmetrised count C_kl + C_lk (``confusion`` (K, K):
    rows true class, columns prediction, or the transpose: the sum does not care). Negative
    when classes whose means are close are confused more often. Needs K ≥ 3; raises
    ``ValueError`` if either side is constant over the pairs (ρ undefined).
    """
    _check_matrix(distances, "distances", "(K, K)")
    k = distances.shape[0]
    if distances.shape[1] != k or k < 3:
        raise ValueError(f"distances must be a square (K, K) matrix with K >= 3 (at least 3 class pairs to rank), "
                         f"got shape {tuple(distances.shape)}")
    if bool((distances < 0).any()):
        raise ValueError("distances must be >= 0 (Euclidean distances between class means)")
    c = _check_confusion(confusion, k, distances)
    rows, cols = torch.triu_indices(k, k, offset=1, device=distances.device)
    pair_distances = distances.to(torch.float64)[rows, cols]
    pair_confusions = (c + c.T)[rows, cols]
    return _spearman(pair_distances, pair_confusions, ("distances", "confusion"))


# ----------------------------------------------------------------------------- distances

def template_distances(
    features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> dict[str, torch.Tensor]:
    r"""Euclidean distances d_ik = ‖[h_i, 1] − w_k‖ in the augmented space, float64.

    Returns a dict: ``"all"``, the (N, K) distances :math:`d_{ik}`; ``"own"``, the (N,)
    distances :math:`d_{i y_i}` to the own template; ``"other"``, the (N, K − 1) distances
    :math:`d_{ik}` for :math:`k \ne y_i`, in increasing k. Note d_ik² = ‖h_i − W_k‖² + (1 − b_k)²:
    the bias enters as a coordinate, exactly as in the paper's templates. Computed pairwise without the ‖x‖² − 2x·w + ‖w‖²
    expansion, which cancels catastrophically for points close to their template.
    """
    k, d = _check_layer(weight, bias)
    _check_features(features, d, weight, "weight")
    labels = _check_labels_for(labels, features.shape[0], k, features.device)
    x = augment_features(features.to(torch.float64))
    w = augment_templates(weight.to(torch.float64), bias.to(torch.float64))
    dist = torch.cdist(x, w, compute_mode="donot_use_mm_for_euclid_dist")
    own_mask = torch.nn.functional.one_hot(labels, k).bool()
    return {"all": dist, "own": dist[own_mask], "other": dist[~own_mask].reshape(-1, k - 1)}


def distance_summary(distances: dict[str, torch.Tensor]) -> dict[str, float]:
    r"""Summarise ``template_distances`` output as floats.

    own_mean, own_std: mean and (population, 1/n) standard deviation of :math:`d_{i y_i}`;
    other_mean, other_std: the same over all N(K−1) distances to the other templates;
    ratio = own_mean / other_mean.

    "Tight, equidistant clusters" (the paper's finding with smoothing) reads: examples sit near
    their own template relative to the others (small ``ratio``) with little spread (small
    own_std / own_mean), and the distances to the wrong templates are all about the same
    (small other_std / other_mean), so no pair of classes is pulled towards each other.
    """
    if not isinstance(distances, dict) or not {"own", "other"} <= distances.keys():
        raise ValueError("distances must be the dict returned by template_distances (keys 'own', 'other')")
    for key in ("own", "other"):
        t = distances[key]
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
            raise ValueError(f"distances['{key}'] must be a floating-point torch.Tensor (from template_distances), "
                             f"got {type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")
        _check_finite(t, f"distances['{key}']")
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


def _check_plane_labels(coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Validate (N, 2) coordinates and their (N,) labels >= 0; the labels as int64 on coords' device."""
    _check_matrix(coords, "coords", "(N, 2)")
    if coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got shape {tuple(coords.shape)}")
    labels = _widen_labels(labels)
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.dtype.is_complex \
            or labels.dtype == torch.bool or labels.dim() != 1:
        raise ValueError("labels must be a 1-D integer torch.Tensor of class indices >= 0, shape (N,)")
    if labels.shape[0] != coords.shape[0]:
        raise ValueError(f"labels must have shape (N,) = ({coords.shape[0]},) to match coords, got {tuple(labels.shape)}")
    labels = labels.to(device=coords.device, dtype=torch.int64)
    if int(labels.min()) < 0:
        raise ValueError(f"labels must be class indices in [0, ∞), got minimum {int(labels.min())}")
    return labels


def cluster_spread(coords: torch.Tensor, labels: torch.Tensor) -> dict[int, float]:
    r"""Per-class tightness in the plane: a dict mapping each class c to
    :math:`\frac{1}{n_c} \sum_{i:\, y_i = c} \lVert \text{coords}_i - m_c \rVert`.

    m_c is the centroid of class c's 2-D coordinates; keys are the classes present in
    ``labels``, in increasing order. Float64; distances in the plane are true augmented-space
    distances because the basis is orthonormal.
    """
    labels = _check_plane_labels(coords, labels)
    c = coords.to(torch.float64)
    out = {}
    for cls in labels.unique().tolist():
        pts = c[labels == cls]
        out[int(cls)] = float(torch.linalg.vector_norm(pts - pts.mean(dim=0), dim=1).mean())
    return out


def centroid_distances(coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """‖m_k − m_l‖ between the class centroids m_c of 2-D coordinates (e.g. a template-plane
    projection): a (C, C) float64 matrix over the C classes present, in increasing order."""
    labels = _check_plane_labels(coords, labels)
    c = coords.to(torch.float64)
    m = torch.stack([c[labels == cls].mean(dim=0) for cls in labels.unique().tolist()])
    return torch.cdist(m, m, compute_mode="donot_use_mm_for_euclid_dist")


def relative_closeness(distances: torch.Tensor, group: Sequence[int]) -> float:
    r"""How close the classes of ``group`` sit, relative to any two classes:

    .. math::

       \rho_G = \operatorname{mean}_{k < l \in G} D_{kl} \big/ \operatorname{mean}_{k \ne l} D_{kl},

    D a symmetric (K, K) distance matrix with zero diagonal (``class_mean_distances``,
    ``centroid_distances``). ρ_G = 1: the group's classes are as far apart as the average pair;
    ρ_G < 1: closer. A magnitude, unlike the rank correlation of distance and confusion."""
    _check_matrix(distances, "distances", "(K, K)")
    k = distances.shape[0]
    if distances.shape[1] != k or k < 2:
        raise ValueError(f"distances must be a square (K, K) matrix with K >= 2, got {tuple(distances.shape)}")
    d = distances.to(torch.float64)
    if not torch.allclose(d, d.T) or bool(d.diagonal().abs().max() > 0):
        raise ValueError("distances must be symmetric with a zero diagonal")
    group = sorted({int(g) for g in group})
    if len(group) < 2 or group[0] < 0 or group[-1] >= k:
        raise ValueError(f"group must name at least two distinct classes in [0, {k}), got {group!r}")
    idx = torch.tensor(group, device=d.device)
    inside = d[idx][:, idx].sum() / (len(group) * (len(group) - 1))
    overall = d.sum() / (k * (k - 1))
    if not overall > 0:
        raise ValueError("distances must not all be zero")
    return float(inside / overall)
