"""Template-plane projection, neural-collapse measures and distances against independent computations."""

import math
import statistics

import numpy as np
import pytest
import torch

from lsutils import geometry
from lsutils.geometry import (
    NC1_RTOL,
    augment_features,
    augment_templates,
    class_mean_distances,
    cluster_spread,
    distance_confusion_correlation,
    distance_summary,
    nc1,
    nc2,
    nc2_templates,
    nc3,
    nc4,
    project,
    project_points,
    project_templates,
    template_distances,
    template_plane,
)

F64 = torch.float64


def _layer(seed, k=6, d=5, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, d, generator=g, dtype=dtype), torch.randn(k, generator=g, dtype=dtype)


def _features(seed, n=40, d=5, k=6, dtype=F64):
    g = torch.Generator().manual_seed(1000 + seed)
    labels = torch.arange(n) % k  # every class present
    return 3 * torch.randn(n, d, generator=g, dtype=dtype), labels


# ----------------------------------------------------------------------------- augmentation

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_augmented_product_reproduces_linear_layer(dtype, tol):
    torch.manual_seed(0)
    layer = torch.nn.Linear(7, 4).to(dtype)
    h = torch.randn(9, 7, dtype=dtype)
    x, w = augment_features(h), augment_templates(layer.weight.detach(), layer.bias.detach())
    assert x.shape == (9, 8) and w.shape == (4, 8) and x.dtype == w.dtype == dtype
    assert torch.equal(x[:, -1], torch.ones(9, dtype=dtype)) and torch.equal(w[:, -1], layer.bias.detach())
    torch.testing.assert_close(x @ w.T, layer(h).detach(), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- the plane

@pytest.mark.parametrize("seed,classes", [(0, (0, 1, 2)), (1, (4, 0, 3)), (2, [5, 2, 1])])
def test_basis_is_orthonormal_and_origin_is_first_template(seed, classes):
    weight, bias = _layer(seed)
    origin, basis = template_plane(weight, bias, classes)
    assert origin.dtype == basis.dtype == F64 and basis.shape == (2, 6)
    torch.testing.assert_close(basis @ basis.T, torch.eye(2, dtype=F64), rtol=0, atol=1e-10)
    torch.testing.assert_close(origin, torch.cat([weight[classes[0]], bias[classes[0], None]]), rtol=0, atol=0)


def test_basis_orthonormal_for_nearly_collinear_templates():
    # v = 2u + tiny: one Gram–Schmidt pass would leave e₁·e₂ far above rounding level
    weight, bias = _layer(3)
    weight, bias = weight.clone(), bias.clone()
    weight[2] = weight[0] + 2 * (weight[1] - weight[0])
    bias[2] = bias[0] + 2 * (bias[1] - bias[0])
    weight[2, 0] += 1e-7
    _, basis = template_plane(weight, bias, (0, 1, 2))
    torch.testing.assert_close(basis @ basis.T, torch.eye(2, dtype=F64), rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_point_on_plane_projects_to_itself(seed):
    weight, bias = _layer(seed)
    origin, basis = template_plane(weight, bias, (1, 3, 5))
    c = torch.randn(11, 2, generator=torch.Generator().manual_seed(seed), dtype=F64) * 4
    torch.testing.assert_close(project_points(origin + c @ basis, origin, basis), c, rtol=0, atol=1e-12)


def test_project_appends_the_one():
    # with all three biases equal to 1 the whole plane lies in {last coordinate = 1}, so every
    # plane point is [h, 1] for some raw feature h and ``project`` must recover its coordinates
    weight, bias = _layer(4)
    bias = bias.clone()
    bias[[0, 2, 4]] = 1.0
    origin, basis = template_plane(weight, bias, (0, 2, 4))
    c = torch.tensor([[0.0, 0.0], [1.5, -2.0], [-3.0, 0.25]], dtype=F64)
    points = origin + c @ basis
    torch.testing.assert_close(points[:, -1], torch.ones(3, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(project(points[:, :-1], origin, basis), c, rtol=0, atol=1e-12)
    # a feature equal to W_k (bias 1) is the template itself
    torch.testing.assert_close(project(weight[[0, 2, 4]], origin, basis),
                               project_templates(weight, bias, (0, 2, 4), origin, basis), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed,classes", [(0, (0, 1, 2)), (5, (3, 1, 4))])
def test_templates_project_to_law_of_cosines_triangle(seed, classes):
    weight, bias = _layer(seed)
    origin, basis = template_plane(weight, bias, classes)
    got = project_templates(weight, bias, classes, origin, basis)
    w = [[float(v) for v in weight[k]] + [float(bias[k])] for k in classes]
    dist = lambda p, q: math.sqrt(sum((x - y) ** 2 for x, y in zip(p, q)))  # noqa: E731
    ab, ac, bc = dist(w[0], w[1]), dist(w[0], w[2]), dist(w[1], w[2])
    x = (ab ** 2 + ac ** 2 - bc ** 2) / (2 * ab)  # law of cosines: ac·cos∠(b a c)
    expected = torch.tensor([[0.0, 0.0], [ab, 0.0], [x, math.sqrt(ac ** 2 - x ** 2)]], dtype=F64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_projection_ignores_components_orthogonal_to_plane():
    weight, bias = _layer(6, k=5, d=8)
    h, _ = _features(6, n=20, d=8, k=5)
    origin, basis = template_plane(weight, bias, (0, 1, 4))
    # directions orthogonal to the plane *and* to the appended coordinate, so [h + n, 1] = [h, 1] + [n, 0]
    q, _ = torch.linalg.qr(torch.cat([basis.T, torch.eye(9, dtype=F64)[:, -1:]], dim=1))
    r = torch.randn(20, 9, generator=torch.Generator().manual_seed(7), dtype=F64) * 10
    n = r - (r @ q) @ q.T
    assert float(n[:, -1].abs().max()) < 1e-12 and float(n.abs().max()) > 1
    torch.testing.assert_close(project(h + n[:, :-1], origin, basis), project(h, origin, basis), rtol=0, atol=1e-11)
    # and a component inside the plane does move the coordinates
    assert not torch.allclose(project(h + 0.5 * basis[0, :-1], origin, basis), project(h, origin, basis))


def test_projection_matches_float64_for_float32_input():
    weight, bias = _layer(8, dtype=torch.float32)
    h, _ = _features(8, dtype=torch.float32)
    origin, basis = template_plane(weight, bias, (0, 1, 2))
    o64, b64 = template_plane(weight.double(), bias.double(), (0, 1, 2))
    assert project(h, origin, basis).dtype == F64
    torch.testing.assert_close(project(h, origin, basis), project(h.double(), o64, b64), rtol=0, atol=0)


# ----------------------------------------------------------------------------- NC1

def _nc1_numpy(h, y, k):
    """Direct loop; pseudo-inverse from an eigendecomposition keeping the K − 1 nonzero eigenvalues."""
    h, y = np.asarray(h, dtype=np.float64), np.asarray(y)
    n, d = h.shape
    mu = np.array([h[y == c].mean(axis=0) for c in range(k)])
    mu_g = mu.mean(axis=0)
    sw = np.zeros((d, d))
    for i in range(n):
        e = h[i] - mu[y[i]]
        sw += np.outer(e, e) / n
    sb = np.zeros((d, d))
    for c in range(k):
        e = mu[c] - mu_g
        sb += np.outer(e, e) / k
    lam, vec = np.linalg.eigh(sb)
    keep = np.argsort(lam)[-(k - 1):]  # rank Σ_B = K − 1 for generic means with D ≥ K − 1
    sb_pinv = (vec[:, keep] / lam[keep]) @ vec[:, keep].T
    return np.trace(sw @ sb_pinv) / k


@pytest.mark.parametrize("seed,n,d,k", [(0, 40, 5, 6), (1, 60, 12, 4), (2, 30, 3, 3)])
def test_nc1_matches_numpy_loop(seed, n, d, k):
    h, y = _features(seed, n=n, d=d, k=k)
    y = y[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
    assert nc1(h, y, k) == pytest.approx(_nc1_numpy(h.numpy(), y.numpy(), k), rel=1e-10)


@pytest.mark.parametrize("n,d,k", [(300, 64, 10), (50, 3, 6), (80, 20, 2)])
def test_nc1_matches_the_pseudo_inverse_of_the_between_class_covariance(n, d, k):
    """The SVD route against Σ_W and torch.linalg.pinv(Σ_B) formed in full (d < K − 1 included,
    where Σ_B has rank d)."""
    h, y = _features(n + d + k, n=n, d=d, k=k)
    mu = torch.stack([h[y == c].mean(0) for c in range(k)])
    between, within = mu - mu.mean(0), h - mu[y]
    sigma_w, sigma_b = within.T @ within / n, between.T @ between / k
    pinv = torch.linalg.pinv(sigma_b, rtol=NC1_RTOL, hermitian=True)
    assert nc1(h, y, k) == pytest.approx(float(torch.trace(sigma_w @ pinv)) / k, rel=1e-9)


def test_nc1_unbalanced_classes_matches_numpy_loop():
    h, _ = _features(3, n=25, d=6, k=4)
    y = torch.tensor([0] * 13 + [1] * 2 + [2] * 7 + [3] * 3)
    assert nc1(h, y, 4) == pytest.approx(_nc1_numpy(h.numpy(), y.numpy(), 4), rel=1e-10)


def test_nc1_two_classes_closed_form_uses_mean_of_class_means():
    # D = 1, K = 2, means 0 and Δ: Σ_B = (Δ/2)² whatever the class sizes (μ_G = Δ/2), so
    # NC1 = (1/2) σ_W² / (Δ/2)² = 2 σ_W² / Δ²; the example mean would give a different Σ_B here
    h = torch.tensor([[-1.0], [1.0], [0.0], [9.0], [11.0]], dtype=F64)
    y = torch.tensor([0, 0, 0, 1, 1])
    sigma_w2 = (1 + 1 + 0 + 1 + 1) / 5
    assert nc1(h, y, 2) == pytest.approx(2 * sigma_w2 / 10.0 ** 2, rel=1e-13)


def test_nc1_zero_when_each_class_is_a_point():
    means = torch.randn(5, 7, generator=torch.Generator().manual_seed(4), dtype=F64)
    y = torch.tensor([0, 1, 2, 3, 4] * 6)
    assert abs(nc1(means[y], y, 5)) < 1e-20
    assert nc1(means[y] + 1e-3 * torch.randn(30, 7, dtype=F64), y, 5) > 1e-8


def test_nc1_invariant_to_rotation_and_translation():
    h, y = _features(5, n=48, d=8, k=6)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(9), dtype=F64))
    shift = torch.full((8,), 37.0, dtype=F64)
    assert nc1(h @ q.T + shift, y, 6) == pytest.approx(nc1(h, y, 6), rel=1e-9)


def test_nc1_grows_with_within_class_noise():
    # fixed class means plus noise centred within each class: Σ_B fixed, Σ_W ∝ σ², so NC1 ∝ σ²
    k, d, per = 4, 6, 10
    g = torch.Generator().manual_seed(11)
    means = 5 * torch.randn(k, d, generator=g, dtype=F64)
    y = torch.arange(k).repeat_interleave(per)
    eps = torch.randn(k * per, d, generator=g, dtype=F64)
    eps = eps - eps.reshape(k, per, d).mean(dim=1).repeat_interleave(per, dim=0)
    values = [nc1(means[y] + s * eps, y, k) for s in (0.1, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[0] > 0
    assert values[-1] / values[0] == pytest.approx(400.0, rel=1e-9)


# ----------------------------------------------------------------------------- distances

def test_template_distances_match_hand_loop():
    weight, bias = _layer(12, k=4, d=3)
    h, y = _features(12, n=9, d=3, k=4)
    out = template_distances(h, y, weight, bias)
    assert out["all"].shape == (9, 4) and out["own"].shape == (9,) and out["other"].shape == (9, 3)
    for i in range(9):
        x = [float(v) for v in h[i]] + [1.0]
        row = [math.sqrt(sum((a - b) ** 2 for a, b in zip(x, [float(v) for v in weight[k]] + [float(bias[k])])))
               for k in range(4)]
        assert out["all"][i].tolist() == pytest.approx(row, rel=1e-13)
        assert float(out["own"][i]) == pytest.approx(row[int(y[i])], rel=1e-13)
        assert out["other"][i].tolist() == pytest.approx([r for k, r in enumerate(row) if k != int(y[i])], rel=1e-13)


def test_distance_accurate_for_feature_near_its_template():
    # far from the origin and close to the template: |x|² − 2x·w + |w|² would cancel to rounding noise
    weight, _ = _layer(13, k=3, d=4)
    weight, bias = weight * 1e4, torch.ones(3, dtype=F64)
    delta = torch.tensor([[1e-6, 0.0, 0.0, 0.0], [0.0, -2e-6, 0.0, 0.0], [3e-6, 0.0, 0.0, 4e-6]], dtype=F64)
    out = template_distances(weight + delta, torch.tensor([0, 1, 2]), weight, bias)
    torch.testing.assert_close(out["own"], torch.tensor([1e-6, 2e-6, 5e-6], dtype=F64), rtol=1e-6, atol=0)


def test_distance_summary_matches_statistics_module():
    weight, bias = _layer(14)
    h, y = _features(14)
    out = template_distances(h, y, weight, bias)
    own, other = out["own"].tolist(), out["other"].reshape(-1).tolist()
    s = distance_summary(out)
    assert s["own_mean"] == pytest.approx(statistics.fmean(own), rel=1e-12)
    assert s["own_std"] == pytest.approx(statistics.pstdev(own), rel=1e-10)
    assert s["other_mean"] == pytest.approx(statistics.fmean(other), rel=1e-12)
    assert s["other_std"] == pytest.approx(statistics.pstdev(other), rel=1e-10)
    assert s["ratio"] == pytest.approx(statistics.fmean(own) / statistics.fmean(other), rel=1e-12)
    assert all(isinstance(v, float) for v in s.values())


def test_cluster_spread_matches_hand_loop():
    coords = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [3.0, 3.0], [5.0, 3.0], [9.0, -1.0]], dtype=F64)
    labels = torch.tensor([7, 7, 7, 2, 2, 4])
    # class 7: centroid (2/3, 4/3); class 2: centroid (4, 3), both points at distance 1; class 4: one point
    c7 = [math.dist(p, (2 / 3, 4 / 3)) for p in ((0, 0), (2, 0), (0, 4))]
    got = cluster_spread(coords, labels)
    assert list(got) == [2, 4, 7]
    assert got == pytest.approx({2: 1.0, 4: 0.0, 7: sum(c7) / 3}, rel=1e-13)


# ----------------------------------------------------------------------------- ValueError paths

def test_layer_and_feature_shape_errors():
    weight, bias = _layer(0)
    with pytest.raises(ValueError, match="weight"):
        augment_templates(weight[0], bias)
    with pytest.raises(ValueError, match="weight"):
        augment_templates(weight.long(), bias)
    with pytest.raises(ValueError, match=r"bias.*\(6,\)"):
        augment_templates(weight, bias[:5])
    with pytest.raises(ValueError, match="features"):
        augment_features(torch.ones(3))
    with pytest.raises(ValueError, match="features"):
        augment_features(torch.ones(0, 3))
    with pytest.raises(ValueError, match=r"features must have D = 5"):
        template_distances(torch.ones(2, 6, dtype=F64), torch.tensor([0, 1]), weight, bias)


@pytest.mark.parametrize("classes", [(0, 1), (0, 1, 2, 3), (0, 1, 1), (0, 1, 6), (-1, 1, 2), (0.0, 1, 2),
                                     (True, 2, 3), torch.tensor([0.0, 1.0, 2.0]), 3])
def test_bad_classes(classes):
    weight, bias = _layer(0)
    with pytest.raises(ValueError, match=r"classes must be 3 distinct integer indices in \[0, 6\)"):
        template_plane(weight, bias, classes)
    origin, basis = template_plane(weight, bias, (0, 1, 2))
    with pytest.raises(ValueError, match="classes"):
        project_templates(weight, bias, classes, origin, basis)


def test_template_plane_accepts_tensor_classes():
    weight, bias = _layer(0)
    a = template_plane(weight, bias, torch.tensor([2, 0, 5]))
    b = template_plane(weight, bias, (2, 0, 5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_degenerate_planes():
    weight, bias = _layer(1)
    weight, bias = weight.clone(), bias.clone()
    weight[2], bias[2] = weight[0] + 3 * (weight[1] - weight[0]), bias[0] + 3 * (bias[1] - bias[0])
    with pytest.raises(ValueError, match="collinear"):
        template_plane(weight, bias, (0, 1, 2))
    weight[2, 0] += 1e-14  # still collinear to within rounding
    with pytest.raises(ValueError, match="collinear"):
        template_plane(weight, bias, (0, 1, 2))
    weight[4], bias[4] = weight[3], bias[3]
    with pytest.raises(ValueError, match="coincide"):
        template_plane(weight, bias, (3, 4, 0))  # w_b = w_a
    with pytest.raises(ValueError, match="coincide"):
        template_plane(weight, bias, (3, 0, 4))  # w_c = w_a
    with pytest.raises(ValueError, match="collinear"):
        template_plane(weight, bias, (0, 3, 4))  # w_b = w_c ≠ w_a: a line through two points


def test_plane_shape_errors():
    weight, bias = _layer(2)
    origin, basis = template_plane(weight, bias, (0, 1, 2))
    h = torch.ones(3, 5, dtype=F64)
    with pytest.raises(ValueError, match=r"basis must have shape \(2, D\+1\)"):
        project(h, origin, torch.cat([basis, basis[:1]]))
    with pytest.raises(ValueError, match=r"origin must have shape \(D\+1,\)"):
        project(h, origin[:-1], basis)
    with pytest.raises(ValueError, match=r"features must have D = 5"):
        project(torch.ones(3, 6, dtype=F64), origin, basis)  # already augmented: rejected
    with pytest.raises(ValueError, match=r"points must have D\+1 = 6"):
        project_points(h, origin, basis)
    with pytest.raises(ValueError, match=r"R\^\(D\+1\) = R\^7"):
        project_templates(torch.ones(6, 6, dtype=F64), bias, (0, 1, 2), origin, basis)


def test_label_errors():
    weight, bias = _layer(3)
    h, y = _features(3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 6\)"):
        template_distances(h, torch.where(y == 0, 6, y), weight, bias)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 6\)"):
        nc1(h, torch.where(y == 0, -1, y), 6)
    with pytest.raises(ValueError, match="integer dtype"):
        nc1(h, y.double(), 6)
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(40,\)"):
        nc1(h, y[:-1], 6)
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(40,\)"):
        template_distances(h, y[:-1], weight, bias)


def test_nc1_errors():
    h, y = _features(4, k=6)
    with pytest.raises(ValueError, match=r"absent: \[3\]"):
        nc1(h, torch.where(y == 3, 2, y), 6)
    with pytest.raises(ValueError, match=r"absent: \[6, 7\]"):
        nc1(h, y, 8)
    with pytest.raises(ValueError, match="num_classes"):
        nc1(h, torch.zeros(40, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="features"):
        nc1(h[0], y, 6)
    same_means = torch.tensor([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [3.0, 4.0]], dtype=F64)
    with pytest.raises(ValueError, match="class means coincide"):
        nc1(same_means, torch.tensor([0, 0, 1, 1]), 2)


def test_summary_and_spread_errors():
    with pytest.raises(ValueError, match="distances"):
        distance_summary({"own": torch.ones(3)})
    with pytest.raises(ValueError, match="distances"):
        distance_summary({"own": torch.ones(0), "other": torch.ones(0, 2)})
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\)"):
        cluster_spread(torch.ones(4, 3, dtype=F64), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        cluster_spread(torch.ones(4, 2, dtype=F64), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        cluster_spread(torch.ones(4, 2, dtype=F64), torch.zeros(4))
    with pytest.raises(ValueError, match="labels"):
        cluster_spread(torch.ones(2, 2, dtype=F64), torch.tensor([0, -1]))


# ----------------------------------------------------------------------------- neural collapse

def _etf(k, d, seed, radius=2.5):
    """K centred class means forming a simplex ETF (norm ``radius``, pairwise cos −1/(K−1)) in R^D,
    rotated by a random orthonormal frame, and an offset global mean μ_G."""
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=F64))          # D × K orthonormal columns
    e = (torch.eye(k, dtype=F64) - 1.0 / k) * math.sqrt(k / (k - 1)) * radius  # rows: the ETF in R^K
    return e @ u.T, 4 * torch.randn(d, generator=g, dtype=F64)


def _etf_data(k=5, d=8, per=4, seed=0):
    m, mu_g = _etf(k, d, seed)
    y = torch.arange(k).repeat(per)
    return m, mu_g, (m + mu_g)[y], y


def _np_centred_means(h, y, k):
    mu = np.array([h[y == c].mean(axis=0) for c in range(k)])
    return mu, mu - mu.mean(axis=0)


def _np_nc2(v):
    """Papyan's NC2 numbers by a direct loop over ordered pairs, population std."""
    k = len(v)
    norms = [math.sqrt(float(np.dot(r, r))) for r in v]
    cos = [float(np.dot(v[i], v[j])) / (norms[i] * norms[j]) for i in range(k) for j in range(k) if i != j]
    return {"equinorm": statistics.pstdev(norms) / statistics.fmean(norms),
            "equiangular": statistics.fmean(abs(c + 1 / (k - 1)) for c in cos),
            "angle_std": statistics.pstdev(cos)}


def _noisy(seed, n=60, d=7, k=5):
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(k, d, generator=g, dtype=F64)
    y = torch.arange(n) % k
    y = y[torch.randperm(n, generator=g)]
    h = means[y] + torch.randn(n, d, generator=g, dtype=F64)
    w = torch.randn(k, d, generator=g, dtype=F64)
    b = torch.randn(k, generator=g, dtype=F64)
    return h, y, w, b


@pytest.mark.parametrize("k,d", [(3, 3), (5, 8), (10, 12)])
def test_simplex_etf_is_fully_collapsed(k, d):
    m, mu_g, h, y = _etf_data(k, d, seed=k)
    assert abs(nc1(h, y, k)) < 1e-20
    for v in nc2(h, y, k).values():
        assert abs(v) < 1e-12
    for v in nc2_templates(0.37 * m).values():
        assert abs(v) < 1e-12
    assert abs(nc3(h, y, k, 0.37 * m)) < 1e-24
    # logits z_k = c M_k·(M_y + μ_G) + b_k with b_k = −c M_k·μ_G, so z_k = c M_k·M_y is largest at k = y
    assert nc4(h, y, k, 0.37 * m, -0.37 * m @ mu_g) == 0.0
    noise = 1e-2 * torch.randn(h.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert nc4(h + noise, y, k, 0.37 * m, -0.37 * m @ mu_g) == 0.0


def test_nc2_hand_case():
    # centred means (2, 0), (−1, 1), (−1, −1): norms 2, √2, √2; cosines −1/√2, −1/√2, 0
    mu_g = torch.tensor([10.0, -3.0], dtype=F64)
    m = torch.tensor([[2.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=F64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    spread = torch.tensor([[1.0, 1.0], [0.5, -2.0], [3.0, 0.0]], dtype=F64)
    h = (m + mu_g)[y] + torch.cat([spread, -spread])   # within-class offsets cancel: means unchanged
    norms = [2.0, math.sqrt(2), math.sqrt(2)]
    cos = [-1 / math.sqrt(2)] * 4 + [0.0] * 2
    got = nc2(h, y, 3)
    assert got["equinorm"] == pytest.approx(statistics.pstdev(norms) / statistics.fmean(norms), rel=1e-13)
    assert got["equiangular"] == pytest.approx((4 * abs(-1 / math.sqrt(2) + 0.5) + 2 * 0.5) / 6, rel=1e-13)
    assert got["angle_std"] == pytest.approx(statistics.pstdev(cos), rel=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_nc2_matches_numpy_loop(seed):
    h, y, w, _ = _noisy(seed)
    _, m = _np_centred_means(h.numpy(), y.numpy(), 5)
    assert nc2(h, y, 5) == pytest.approx(_np_nc2(m), rel=1e-11)
    assert nc2_templates(w) == pytest.approx(_np_nc2(w.numpy()), rel=1e-11)


def test_nc2_templates_does_not_centre_rows():
    m, _ = _etf(4, 6, seed=3)
    assert all(abs(v) < 1e-12 for v in nc2_templates(m).values())
    shifted = m + torch.full((6,), 0.8, dtype=F64)   # a common offset: the rows are no longer an ETF about 0
    assert nc2_templates(shifted)["equiangular"] > 0.1
    assert nc2_templates(shifted) == pytest.approx(_np_nc2(shifted.numpy()), rel=1e-11)


@pytest.mark.parametrize("delta", [0.0, 0.1, 1.0, 3.0])
def test_nc3_closed_form_for_orthogonal_perturbation(delta):
    # W = M̂ + δP with ‖M̂‖_F = ‖P‖_F = 1 and ⟨M̂, P⟩_F = 0:
    # NC3 = ‖(M̂ + δP)/√(1+δ²) − M̂‖² = 2 − 2/√(1+δ²)
    h, y, _, _ = _noisy(4)
    _, m = _np_centred_means(h.numpy(), y.numpy(), 5)
    m_hat = torch.from_numpy(m / np.linalg.norm(m))
    p = torch.randn(5, 7, generator=torch.Generator().manual_seed(5), dtype=F64)
    p = p - (p * m_hat).sum() * m_hat
    p = p / torch.linalg.vector_norm(p)
    expected = 2 - 2 / math.sqrt(1 + delta ** 2)
    assert nc3(h, y, 5, 4.2 * (m_hat + delta * p)) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert nc3(h, y, 5, -m_hat) == pytest.approx(4.0, rel=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_nc3_nc4_match_numpy(seed):
    h, y, w, b = _noisy(seed)
    hn, yn, wn, bn = h.numpy(), y.numpy(), w.numpy(), b.numpy()
    mu, m = _np_centred_means(hn, yn, 5)
    expected3 = np.sum((wn / np.linalg.norm(wn) - m / np.linalg.norm(m)) ** 2)
    assert nc3(h, y, 5, w) == pytest.approx(expected3, rel=1e-12)
    disagree = 0
    for i in range(len(hn)):
        net = int(np.argmax(wn @ hn[i] + bn))
        ncc = int(np.argmin([math.dist(hn[i], mu[c]) for c in range(5)]))
        disagree += net != ncc
    assert nc4(h, y, 5, w, b) == disagree / len(hn)
    assert 0 < disagree < len(hn)  # a case that exercises both outcomes


def test_nc4_hand_case():
    # D = 1: class means −2 and 2, so NCC splits at 0; logits (−h + 4, h) split at h = 2
    h = torch.tensor([[-3.0], [-1.0], [1.0], [3.0]], dtype=F64)
    y = torch.tensor([0, 0, 1, 1])
    w, b = torch.tensor([[-1.0], [1.0]], dtype=F64), torch.tensor([4.0, 0.0], dtype=F64)
    assert nc4(h, y, 2, w, b) == 0.25   # h = 1: NCC says 1, the network says 0


def test_class_mean_distances_hand_case():
    # 1-D class means 0, 3, 4: distances 3, 4, 1, off-diagonal mean 8/3
    h = torch.tensor([[-1.0], [1.0], [3.0], [4.0], [4.0]], dtype=F64)
    y = torch.tensor([0, 0, 1, 2, 2])
    expected = torch.tensor([[0.0, 3.0, 4.0], [3.0, 0.0, 1.0], [4.0, 1.0, 0.0]], dtype=F64) * 3 / 8
    got = class_mean_distances(h, y, 3)
    assert got.dtype == F64
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)


def test_class_mean_distances_match_numpy():
    h, y, _, _ = _noisy(7)
    mu, _ = _np_centred_means(h.numpy(), y.numpy(), 5)
    dist = np.array([[math.dist(mu[i], mu[j]) for j in range(5)] for i in range(5)])
    expected = dist / (dist.sum() / 20)
    np.testing.assert_allclose(class_mean_distances(h, y, 5).numpy(), expected, rtol=1e-12, atol=0)


def _all_measures(h, y, k, w, b):
    return [nc1(h, y, k), *nc2(h, y, k).values(), nc3(h, y, k, w), nc4(h, y, k, w, b),
            *nc2_templates(w).values(), *class_mean_distances(h, y, k).reshape(-1).tolist()]


def test_measures_are_scale_invariant():
    h, y, w, b = _noisy(8)
    base = _all_measures(h, y, 5, w, b)
    # NC4's logits scale with the features only if the bias does too
    assert _all_measures(7.3 * h, y, 5, w, 7.3 * b) == pytest.approx(base, rel=1e-10, abs=1e-14)
    assert _all_measures(h, y, 5, 7.3 * w, 7.3 * b) == pytest.approx(base, rel=1e-10, abs=1e-14)


def test_measures_are_rotation_invariant():
    h, y, w, b = _noisy(9)
    q, _ = torch.linalg.qr(torch.randn(7, 7, generator=torch.Generator().manual_seed(10), dtype=F64))
    base = _all_measures(h, y, 5, w, b)
    assert _all_measures(h @ q.T, y, 5, w @ q.T, b) == pytest.approx(base, rel=1e-9, abs=1e-12)


def test_nc_measures_float32_input_computed_in_float64():
    h, y, w, b = _noisy(11)
    h32, w32, b32 = h.float(), w.float(), b.float()
    assert _all_measures(h32, y, 5, w32, b32) == pytest.approx(
        _all_measures(h32.double(), y, 5, w32.double(), b32.double()), rel=1e-13, abs=1e-15)


def test_nc_errors():
    h, y, w, b = _noisy(12)
    missing = torch.where(y == 3, 2, y)
    for call in (lambda: nc2(h, missing, 5), lambda: nc3(h, missing, 5, w), lambda: nc4(h, missing, 5, w, b),
                 lambda: class_mean_distances(h, missing, 5)):
        with pytest.raises(ValueError, match=r"absent: \[3\]"):
            call()
    same = torch.tensor([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [3.0, 4.0]], dtype=F64)
    y2 = torch.tensor([0, 0, 1, 1])
    for call in (lambda: nc2(same, y2, 2), lambda: nc3(same, y2, 2, torch.ones(2, 2, dtype=F64)),
                 lambda: class_mean_distances(same, y2, 2)):
        with pytest.raises(ValueError, match="class means coincide"):
            call()
    # class 2's mean is the mean of the class means: M_2 = 0 has no angle
    h3 = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], dtype=F64)
    with pytest.raises(ValueError, match=r"features: the centred mean .* \[2\] is zero"):
        nc2(h3, torch.tensor([0, 1, 2]), 3)
    with pytest.raises(ValueError, match=r"weight: row\(s\) w_k \[1\] is zero"):
        nc2_templates(torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="weight must have K >= 2"):
        nc2_templates(torch.ones(1, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"weight must have shape \(K, D\) = \(5, 7\)"):
        nc3(h, y, 5, w[:4])
    with pytest.raises(ValueError, match=r"weight must have shape \(K, D\) = \(5, 7\)"):
        nc3(h, y, 5, w[:, :6])
    with pytest.raises(ValueError, match="weight must not be all zeros"):
        nc3(h, y, 5, torch.zeros(5, 7, dtype=F64))
    with pytest.raises(ValueError, match="weight must have K = num_classes = 6"):
        nc4(h, y, 6, w, b)
    with pytest.raises(ValueError, match="features must have D = 6"):
        nc4(h, y, 5, w[:, :6], b)
    with pytest.raises(ValueError, match=r"bias must have shape \(K,\)"):
        nc4(h, y, 5, w, b[:4])
    with pytest.raises(ValueError, match="num_classes"):
        nc2(h, y, 1)


# ----------------------------------------------------------------------------- distance–confusion correlation

def _pairs_to_matrices(dist_pairs, conf_pairs, k, seed=0):
    """Put pair values (i < j, row-major) into a symmetric distance matrix and a confusion matrix whose
    two off-diagonal entries C_ij, C_ji split the pair's count at random."""
    g = torch.Generator().manual_seed(seed)
    dist, conf = torch.zeros(k, k, dtype=F64), torch.zeros(k, k, dtype=torch.long)
    rows, cols = torch.triu_indices(k, k, 1)
    for (i, j), dv, cv in zip(zip(rows.tolist(), cols.tolist()), dist_pairs, conf_pairs):
        dist[i, j] = dist[j, i] = dv
        part = int(torch.randint(0, int(cv) + 1, (1,), generator=g))
        conf[i, j], conf[j, i] = part, int(cv) - part
    conf += torch.diag(torch.randint(50, 100, (k,), generator=g))   # correct predictions play no part
    return dist, conf


def _np_average_ranks(x):
    x = np.asarray(x, dtype=float)
    return np.array([np.sum(x < v) + (np.sum(x == v) + 1) / 2 for v in x])


def test_spearman_tie_free_matches_classic_formula():
    k = 6
    g = torch.Generator().manual_seed(20)
    x = torch.randperm(15, generator=g).to(F64) * 0.7 + 1
    c = torch.randperm(15, generator=g) * 3
    dist, conf = _pairs_to_matrices(x.tolist(), c.tolist(), k)
    rx = np.argsort(np.argsort(x.numpy())) + 1
    ry = np.argsort(np.argsort(c.numpy())) + 1
    n = 15
    expected = 1 - 6 * np.sum((rx - ry) ** 2) / (n * (n * n - 1))
    assert distance_confusion_correlation(dist, conf) == pytest.approx(expected, rel=1e-13)


def test_spearman_hand_tie_case():
    # pairs (0,1), (0,2), (1,2): distances 1, 2, 2 → ranks 1, 2.5, 2.5; counts 5, 5, 0 → ranks 2.5, 2.5, 1
    # centred ranks (−1, ½, ½) and (½, ½, −1): ρ = −¾ / 1.5 = −½
    dist, conf = _pairs_to_matrices([1.0, 2.0, 2.0], [5, 5, 0], 3)
    assert distance_confusion_correlation(dist, conf) == pytest.approx(-0.5, rel=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_spearman_with_ties_matches_brute_force(seed):
    k = 8
    g = torch.Generator().manual_seed(30 + seed)
    x = torch.randint(0, 6, (28,), generator=g).to(F64) / 3   # many ties on both sides
    c = torch.randint(0, 4, (28,), generator=g)
    dist, conf = _pairs_to_matrices(x.tolist(), c.tolist(), k, seed)
    expected = np.corrcoef(_np_average_ranks(x.numpy()), _np_average_ranks(c.numpy()))[0, 1]
    assert distance_confusion_correlation(dist, conf) == pytest.approx(expected, rel=1e-12)


def test_spearman_against_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(40)
    x = torch.randint(0, 9, (45,), generator=g).to(F64)
    c = torch.randint(0, 5, (45,), generator=g)
    dist, conf = _pairs_to_matrices(x.tolist(), c.tolist(), 10)
    expected = scipy_stats.spearmanr(x.numpy(), c.numpy()).statistic
    assert distance_confusion_correlation(dist, conf) == pytest.approx(expected, rel=1e-12)


def test_spearman_monotone_and_symmetrised():
    h, y, _, _ = _noisy(13, k=6)
    dist = class_mean_distances(h, y, 6)
    rows, cols = torch.triu_indices(6, 6, 1)
    d = dist[rows, cols]
    # confusion falls strictly with distance: ρ = −1, whatever the split between C_ij and C_ji
    counts = torch.argsort(torch.argsort(-d)) * 2   # 2 × rank of −d: distinct, decreasing in d
    _, conf = _pairs_to_matrices(d.tolist(), counts.tolist(), 6, seed=1)
    assert distance_confusion_correlation(dist, conf) == pytest.approx(-1.0, rel=1e-14)
    assert distance_confusion_correlation(dist, conf.T.contiguous()) == pytest.approx(-1.0, rel=1e-14)
    assert distance_confusion_correlation(dist ** 3 * 5, conf.double()) == pytest.approx(-1.0, rel=1e-14)


def test_distance_confusion_errors():
    dist, conf = _pairs_to_matrices([1.0, 2.0, 3.0], [3, 2, 1], 3)
    with pytest.raises(ValueError, match="distances must be a square"):
        distance_confusion_correlation(dist[:, :2], conf)
    with pytest.raises(ValueError, match="K >= 3"):
        distance_confusion_correlation(dist[:2, :2], conf[:2, :2])
    with pytest.raises(ValueError, match="distances must be >= 0"):
        distance_confusion_correlation(-dist, conf)
    with pytest.raises(ValueError, match=r"confusion must have shape \(K, K\) = \(3, 3\)"):
        distance_confusion_correlation(dist, conf[:2])
    with pytest.raises(ValueError, match="confusion must be a real"):
        distance_confusion_correlation(dist, conf.bool())
    with pytest.raises(ValueError, match="confusion must be a real"):
        distance_confusion_correlation(dist, conf.tolist())
    with pytest.raises(ValueError, match="confusion must hold counts >= 0"):
        distance_confusion_correlation(dist, -conf)
    with pytest.raises(ValueError, match="confusion: all off-diagonal values are equal"):
        distance_confusion_correlation(dist, torch.eye(3, dtype=torch.long) * 9)
    with pytest.raises(ValueError, match="distances: all off-diagonal values are equal"):
        distance_confusion_correlation(1 - torch.eye(3, dtype=F64), conf)


# ----------------------------------------------------------------------------- finite inputs (every public function)

def _valid_calls():
    """{function name: (function, {argument name: value})} with valid arguments for every public function."""
    weight, bias = _layer(21)
    h, y = _features(21)
    origin, basis = template_plane(weight, bias, (0, 1, 2))
    points = augment_features(h)
    dist, conf = _pairs_to_matrices([1.0, 2.0, 3.0], [3, 2, 1], 3)
    return {
        "augment_templates": (augment_templates, {"weight": weight, "bias": bias}),
        "augment_features": (augment_features, {"features": h}),
        "template_plane": (template_plane, {"weight": weight, "bias": bias, "classes": (0, 1, 2)}),
        "project_points": (project_points, {"points": points, "origin": origin, "basis": basis}),
        "project": (project, {"features": h, "origin": origin, "basis": basis}),
        "project_templates": (project_templates, {"weight": weight, "bias": bias, "classes": (0, 1, 2),
                                                  "origin": origin, "basis": basis}),
        "nc1": (nc1, {"features": h, "labels": y, "num_classes": 6}),
        "nc2": (nc2, {"features": h, "labels": y, "num_classes": 6}),
        "nc2_templates": (nc2_templates, {"weight": weight}),
        "nc3": (nc3, {"features": h, "labels": y, "num_classes": 6, "weight": weight}),
        "nc4": (nc4, {"features": h, "labels": y, "num_classes": 6, "weight": weight, "bias": bias}),
        "class_mean_distances": (class_mean_distances, {"features": h, "labels": y, "num_classes": 6}),
        "distance_confusion_correlation": (distance_confusion_correlation,
                                           {"distances": dist, "confusion": conf.double()}),
        "template_distances": (template_distances, {"features": h, "labels": y, "weight": weight, "bias": bias}),
        "cluster_spread": (cluster_spread, {"coords": project(h, origin, basis), "labels": y}),
    }


_FLOAT_ARGS = [(fn, arg) for fn, (_, kwargs) in _valid_calls().items() for arg, v in kwargs.items()
               if isinstance(v, torch.Tensor) and v.dtype.is_floating_point]


@pytest.mark.parametrize("fn,arg", _FLOAT_ARGS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_inputs_rejected(fn, arg, bad):
    func, kwargs = _valid_calls()[fn]
    func(**kwargs)  # the valid call works
    poisoned = kwargs[arg].clone()
    poisoned.view(-1)[poisoned.numel() // 2] = bad
    with pytest.raises(ValueError, match=rf"^{arg} must be finite \(contains NaN or inf\)"):
        func(**{**kwargs, arg: poisoned})


@pytest.mark.parametrize("key", ["own", "other"])
def test_distance_summary_rejects_non_finite(key):
    weight, bias = _layer(22)
    h, y = _features(22)
    out = template_distances(h, y, weight, bias)
    out[key] = out[key].clone()
    out[key][0] = math.nan
    with pytest.raises(ValueError, match=rf"distances\['{key}'\] must be finite"):
        distance_summary(out)
    with pytest.raises(ValueError, match=rf"distances\['{key}'\] must be a floating-point"):
        distance_summary({**out, key: out[key].tolist()})


def test_nc1_nan_feature_is_a_value_error_not_a_linalg_error():
    h, y = _features(23)
    h = h.clone()
    h[0, 0] = math.nan
    with pytest.raises(ValueError, match="features must be finite"):
        nc1(h, y, 6)


# ----------------------------------------------------------------------------- label dtypes

_INT_DTYPES = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8] + [
    getattr(torch, n) for n in ("uint16", "uint32") if hasattr(torch, n)]


@pytest.mark.parametrize("dtype", _INT_DTYPES, ids=str)
def test_every_integer_label_dtype_gives_the_int64_result(dtype):
    h, y, w, b = _noisy(24)
    yd = y.to(dtype)
    assert _all_measures(h, yd, 5, w, b) == _all_measures(h, y, 5, w, b)
    a, c = template_distances(h, yd, w, b), template_distances(h, y, w, b)
    assert all(torch.equal(a[key], c[key]) for key in ("all", "own", "other"))
    assert cluster_spread(h[:, :2], yd) == cluster_spread(h[:, :2], y)


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.complex64]
                         + ([torch.uint64] if hasattr(torch, "uint64") else []), ids=str)
def test_non_integer_or_unrepresentable_label_dtypes_rejected(dtype):
    h, y, w, b = _noisy(25)
    yd = (y % 2).to(dtype)   # 0/1 so that bool labels are not trivially out of range
    for call in (lambda: nc1(h, yd, 2), lambda: nc2(h, yd, 2), lambda: class_mean_distances(h, yd, 2),
                 lambda: template_distances(h, yd, w[:2], b[:2]), lambda: cluster_spread(h[:, :2], yd)):
        with pytest.raises(ValueError, match="labels"):
            call()


# ----------------------------------------------------------------------------- devices

_FACTORIES = {"zeros", "ones", "empty", "full", "arange", "eye", "tensor", "as_tensor", "linspace", "logspace",
              "rand", "randn", "randint", "randperm", "triu_indices", "tril_indices", "scalar_tensor"}


def test_geometry_creates_no_tensor_without_device():
    # Every fresh tensor must be made on the input's device: a torch factory call without
    # device= lands on the CPU (the old nc1 accumulator did), and .cpu() moves data off the GPU.
    import ast
    import inspect

    import lsutils.geometry as geometry

    tree = ast.parse(inspect.getsource(geometry))
    offenders = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f = node.func
        if isinstance(f.value, ast.Name) and f.value.id == "torch" and f.attr in _FACTORIES \
                and not any(kw.arg == "device" for kw in node.keywords):
            offenders.append(f"line {node.lineno}: torch.{f.attr} without device=")
        if f.attr in ("cpu", "numpy"):
            offenders.append(f"line {node.lineno}: .{f.attr}()")
    assert offenders == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_results_match_cpu_and_stay_on_device():
    cuda = torch.device("cuda")
    h, y, w, b = _noisy(26)
    hc, wc, bc = h.to(cuda), w.to(cuda), b.to(cuda)
    # labels may stay on the CPU: they are index data, moved to the features' device
    for yy in (y, y.to(cuda)):
        assert _all_measures(hc, yy, 5, wc, bc) == pytest.approx(_all_measures(h, y, 5, w, b), rel=1e-9, abs=1e-12)
    assert class_mean_distances(hc, y, 5).device.type == "cuda"
    dist, conf = _pairs_to_matrices([1.0, 2.0, 3.0], [3, 2, 1], 3)
    assert distance_confusion_correlation(dist.to(cuda), conf.to(cuda)) == distance_confusion_correlation(dist, conf)
    weight, bias = _layer(27)
    origin, basis = template_plane(weight.to(cuda), bias.to(cuda), (0, 1, 2))
    assert origin.device.type == basis.device.type == "cuda"
    hh, yy = _features(27)
    td = template_distances(hh.to(cuda), yy, weight.to(cuda), bias.to(cuda))
    torch.testing.assert_close(td["all"].cpu(), template_distances(hh, yy, weight, bias)["all"])
    coords = project(hh.to(cuda), origin, basis)
    assert cluster_spread(coords, yy) == pytest.approx(cluster_spread(coords.cpu(), yy), rel=1e-12)
    with pytest.raises(ValueError, match="bias must be on the same device as weight"):
        augment_templates(weight.to(cuda), bias)
    with pytest.raises(ValueError, match="weight must be on the same device as features"):
        nc3(hc, y, 5, w)
    with pytest.raises(ValueError, match="features must be on the same device as weight"):
        nc4(h, y, 5, wc, bc)
    with pytest.raises(ValueError, match="confusion must be on the same device as distances"):
        distance_confusion_correlation(dist.to(cuda), conf)


def test_class_separation_against_every_pair():
    """R² from the closed form equals the definition with all pairs (self-pairs included)."""
    torch.manual_seed(0)
    k, per = 3, 5
    labels = torch.arange(k).repeat_interleave(per)
    h = torch.randn(k * per, 4, dtype=torch.float64) + 2 * torch.randn(k, 4, dtype=torch.float64)[labels]
    u = h / h.norm(dim=1, keepdim=True)
    d = 1 - u @ u.T
    within = sum(d[labels == c][:, labels == c].mean() for c in range(k)) / k
    total = sum(d[labels == a][:, labels == b].mean() for a in range(k) for b in range(k)) / k ** 2
    assert geometry.class_separation(h, labels, k) == pytest.approx(float(1 - within / total), rel=1e-12)
    # every class one direction: R² = 1; scale-free
    one_dir = torch.eye(k, 4, dtype=torch.float64)[labels] * torch.rand(k * per, 1, dtype=torch.float64).add(0.5)
    assert geometry.class_separation(one_dir, labels, k) == pytest.approx(1.0)
    assert geometry.class_separation(3 * h, labels, k) == pytest.approx(geometry.class_separation(h, labels, k))
    with pytest.raises(ValueError, match="zero vector"):
        geometry.class_separation(torch.zeros(k * per, 4), labels, k)


# ----------------------------------------------------------------------------- closeness of a group of classes

def _closeness_by_loops(d: np.ndarray, group) -> float:
    k = d.shape[0]
    inside = [d[a, b] for a in group for b in group if a < b]
    overall = [d[a, b] for a in range(k) for b in range(k) if a < b]
    return float(np.mean(inside) / np.mean(overall))


def test_relative_closeness_matches_pairwise_loops():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 4, generator=g, dtype=torch.float64)
    d = torch.cdist(mu, mu)
    d = (d + d.T) / 2
    d.fill_diagonal_(0)
    for group in [(0, 1), (1, 3, 5), (0, 2, 4, 5)]:
        assert geometry.relative_closeness(d, group) == pytest.approx(_closeness_by_loops(d.numpy(), group), rel=1e-12)
    assert geometry.relative_closeness(d, range(6)) == pytest.approx(1.0)   # the group of all classes
    # scale-free, and closer classes give a smaller value
    assert geometry.relative_closeness(3 * d, (1, 3)) == pytest.approx(geometry.relative_closeness(d, (1, 3)))
    mu2 = mu.clone()
    mu2[3] = mu2[1] + 0.01
    d2 = torch.cdist(mu2, mu2)
    d2 = (d2 + d2.T) / 2
    d2.fill_diagonal_(0)
    assert geometry.relative_closeness(d2, (1, 3)) < 0.05


def test_centroid_distances_against_numpy():
    g = torch.Generator().manual_seed(1)
    coords = torch.randn(30, 2, generator=g, dtype=torch.float64)
    labels = torch.tensor([2, 4, 7] * 10)
    d = geometry.centroid_distances(coords, labels)
    m = np.stack([coords.numpy()[labels.numpy() == c].mean(0) for c in (2, 4, 7)])
    ref = np.sqrt(((m[:, None] - m[None]) ** 2).sum(-1))
    np.testing.assert_allclose(d.numpy(), ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("bad, match", [
    (lambda: geometry.relative_closeness(torch.ones(3, 3), (0, 1)), "zero diagonal"),
    (lambda: geometry.relative_closeness(torch.zeros(3, 3), (0, 1)), "not all be zero"),
    (lambda: geometry.relative_closeness(torch.zeros(3, 2), (0, 1)), "square"),
    (lambda: geometry.relative_closeness(torch.tensor([[0.0, 1, 2], [1, 0, 1], [2, 1, 0]]), (0,)), "group"),
    (lambda: geometry.relative_closeness(torch.tensor([[0.0, 1, 2], [1, 0, 1], [2, 1, 0]]), (0, 3)), "group"),
    (lambda: geometry.centroid_distances(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)), "coords"),
])
def test_closeness_refuses_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
