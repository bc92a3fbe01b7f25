"""Template-plane projection, NC1 and template distances against independent computations."""

import math
import statistics

import numpy as np
import pytest
import torch

from lsutils.geometry import (
    augment_features,
    augment_templates,
    cluster_spread,
    distance_summary,
    nc1,
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
