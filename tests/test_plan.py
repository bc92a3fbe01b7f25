import pytest
import torch
from torch import nn

from lsutils import models, plan, train


def test_flops_of_a_linear_only_mlp_are_two_per_multiply_accumulate():
    model = models.build("mlp", (1, 28, 28), 10, hidden=(32, 16))
    expected = 2 * (784 * 32 + 32 * 16 + 16 * 10)  # biases are not counted
    assert plan.flops_per_image(model, (1, 28, 28)) == expected


def test_flops_of_one_conv_layer_match_a_hand_count():
    conv = nn.Conv2d(3, 8, 5, stride=1, padding=2)   # 28 × 28 out
    strided = nn.Conv2d(3, 8, 3, stride=2, padding=1)  # 14 × 14 out
    assert plan.flops_per_image(conv, (3, 28, 28)) == 2 * (8 * 28 * 28) * (3 * 5 * 5)
    assert plan.flops_per_image(strided, (3, 28, 28)) == 2 * (8 * 14 * 14) * (3 * 3 * 3)


def test_flops_leave_the_model_and_its_batchnorm_statistics_alone():
    torch.manual_seed(0)
    model = models.build("resnet8", (1, 28, 28), 10, width=4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert plan.flops_per_image(model, (1, 28, 28)) > 0
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="image_shape"):
        plan.flops_per_image(model, (28, 28))


def test_estimate():
    out = plan.estimate(runs=15, steps=100, batch_size=128, flops_per_image=1000, images_per_s=6400.0)
    assert out == {"runs": 15, "steps": 100, "optimiser_steps": 1500, "images": 15 * 100 * 128,
                   "train_flops": 3 * 1000 * 15 * 100 * 128, "seconds": 15 * 100 * 128 / 6400.0}
    for bad in ({"runs": 0}, {"steps": 1.5}, {"batch_size": True}, {"flops_per_image": -1},
                {"images_per_s": 0.0}, {"images_per_s": float("nan")}):
        kwargs = {"runs": 1, "steps": 1, "batch_size": 1, "flops_per_image": 1, "images_per_s": 1.0, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            plan.estimate(**kwargs)


@pytest.mark.parametrize("n, epochs, batch_size", [(100, 1.5, 32), (20, 0.1, 32), (64, 2.0, 16)])
def test_optimiser_steps_match_the_training_loop(n, epochs, batch_size):
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    labels = torch.zeros(n, dtype=torch.long)
    cfg = train.TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.0)
    _, hist = train.train(models.build("mlp", (1, 28, 28), 2, hidden=()), images, labels, cfg,
                          device=torch.device("cpu"))
    assert hist.step[-1] == plan.optimiser_steps(n, epochs, batch_size)
