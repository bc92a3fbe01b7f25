import pytest
import torch

from lsutils import models


def test_resnet56_has_the_papers_parameter_count():
    # He et al. (2016) report 0.85 M for ResNet-56 with the parameter-free (option A) shortcut.
    assert models.count_parameters(models.resnet(56, 3, 10)) == 853_018
    assert models.count_parameters(models.resnet(20, 3, 10)) == 269_722   # 0.27 M in He et al.


def test_resnet_block_count_and_shapes():
    net = models.resnet(20, 1, 10)
    assert len(net.blocks) == 9          # 3 stages × (20 − 2) / 6
    x = torch.randn(4, 1, 28, 28)
    assert net.features(x).shape == (4, 64)
    assert torch.allclose(net(x), net.classifier(net.features(x)))
    with pytest.raises(ValueError, match="depth"):
        models.resnet(21)


def test_option_a_shortcut_is_subsample_and_zero_pad():
    block = models.BasicBlock(16, 32, 2)
    x = torch.randn(2, 16, 8, 8)
    s = block.shortcut(x)
    assert s.shape == (2, 32, 4, 4)
    assert torch.equal(s[:, 8:24], x[:, :, ::2, ::2])
    assert s[:, :8].abs().sum() == 0 and s[:, 24:].abs().sum() == 0


@pytest.mark.parametrize("arch,feat", [("mlp", 256), ("alexnet", 192), ("resnet8", 64)])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 40, 36)])
def test_every_model_takes_any_channels_and_size(arch, feat, shape):
    net = models.build(arch, shape, 7).eval()
    x = torch.randn(3, *shape)
    assert net.features(x).shape == (3, feat)
    logits = net(x)
    assert logits.shape == (3, 7)
    # the classifier is the last layer: its rows are the templates
    assert torch.allclose(logits, net.features(x) @ net.classifier.weight.T + net.classifier.bias, atol=1e-5)


def test_alexnet_layout():
    net = models.alexnet(3, 10, (32, 32))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(3, 64, (5, 5)), (64, 64, (5, 5))]
    assert sum(isinstance(m, torch.nn.LocalResponseNorm) for m in net.modules()) == 2
    dense = [m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert dense == [384, 192, 10]


def test_local_response_norm_matches_tensorflows_formula():
    # TF: x / (bias + alpha * sum_{|d'-d| <= 4} x_{d'}^2) ** beta with alpha = 0.001 / 9
    lrn = [m for m in models.alexnet(1, 10, (28, 28)).modules() if isinstance(m, torch.nn.LocalResponseNorm)][0]
    x = torch.randn(1, 20, 3, 3, dtype=torch.float64)
    sq = torch.nn.functional.pad(x ** 2, (0, 0, 0, 0, 4, 4))
    window = sum(sq[:, i:i + 20] for i in range(9))
    expected = x / (1.0 + 0.001 / 9 * window) ** 0.75
    assert torch.allclose(lrn(x), expected)


def test_mlp_hidden_sizes():
    net = models.mlp((1, 28, 28), 10, hidden=(1200, 1200))
    assert models.count_parameters(net) == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    assert models.count_parameters(models.mlp((1, 28, 28), 10, hidden=())) == 7850  # softmax regression
    with pytest.raises(ValueError, match="arch"):
        models.build("vgg", (1, 28, 28), 10)
