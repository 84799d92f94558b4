"""The training recipe, the data pipeline and the claim's arithmetic."""

import math

import pytest
import torch
import torch.nn.functional as F
from resnet.data import ImageData, random_crop, random_flip
from resnet.lightning import DegradationExperiment, degradation_claim, lr_factor
from resnet.model import ResNet, cifar_config


def test_learning_rate_steps_at_half_and_three_quarters():
    lrs = [0.1 * lr_factor(e, 0, 0.01, 0.1, [4, 6]) for e in range(8)]
    assert lrs == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2)
    warm = [0.1 * lr_factor(e, 1, 0.01, 0.1, [4, 6]) for e in range(2)]
    assert warm == pytest.approx([0.01, 0.1])  # the paper's ResNet-110 warm-up


def test_one_optimizer_on_the_summed_loss_equals_separate_training():
    torch.manual_seed(0)
    nets = [ResNet(cifar_config(8, r, widths=(4, 8, 8), in_channels=1)) for r in (False, True)]
    copies = [ResNet(cifar_config(8, r, widths=(4, 8, 8), in_channels=1)) for r in (False, True)]
    for a, b in zip(nets, copies):
        b.load_state_dict(a.state_dict())
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    sgd = dict(lr=0.1, momentum=0.9, weight_decay=1e-4)
    joint = torch.optim.SGD([p for n in nets for p in n.parameters()], **sgd)
    alone = [torch.optim.SGD(n.parameters(), **sgd) for n in copies]
    for _ in range(3):
        joint.zero_grad()
        sum(F.cross_entropy(n(x), y) for n in nets).backward()
        joint.step()
        for n, opt in zip(copies, alone):
            opt.zero_grad()
            F.cross_entropy(n(x), y).backward()
            opt.step()
    for a, b in zip(nets, copies):
        for pa, pb in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(pa, pb)


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    torch.manual_seed(0)
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8) + 1
    out = random_crop(x, 1)
    assert out.shape == x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    for i in range(2):
        windows = [padded[i, :, dy:dy + 8, dx:dx + 8] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out[i], w) for w in windows)
    assert torch.equal(random_crop(x, 0), x)


def test_random_flip_mirrors_some_images_and_keeps_the_rest():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 4, 4)
    out = random_flip(x)
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54


def test_digits_data_is_mean_subtracted_and_split():
    dm = ImageData()
    dm.setup()
    x, y = dm.train_set.tensors
    assert x.shape[1:] == (1, 8, 8) and len(x) == 1437 and len(dm.test_set) == 360
    torch.testing.assert_close(x.mean(0), torch.zeros(1, 8, 8), atol=1e-6, rtol=0)  # per-pixel mean removed
    assert (dm.in_channels, dm.image_size, dm.n_classes, dm.crop_pad, dm.flip) == (1, 8, 10, 1, False)
    assert len(dm.test_dataloader().dataset) == 1437 + 360  # training images, then test images


@pytest.mark.parametrize("kwargs, message", [({"dataset": "mnist"}, "data.dataset"), ({"batch_size": 0}, "batch_size"),
                                             ({"crop_pad": -1}, "crop_pad")])
def test_impossible_data_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageData(**kwargs)


@pytest.mark.parametrize("kwargs, message", [({"depths": [20]}, "two or more"), ({"depths": [20, 21]}, "6n \\+ 2"),
                                             ({"lr": 0}, "model.lr"), ({"lr_milestones": [0]}, "lr_milestones")])
def test_impossible_model_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DegradationExperiment(**kwargs)


def test_claim_needs_plain_degradation_and_no_residual_degradation():
    def metrics(p8, p32, r8, r32):
        return {"train_error/plain8": p8, "train_error/plain32": p32, "train_error/resnet8": r8,
                "train_error/resnet32": r32}

    assert degradation_claim(metrics(0.01, 0.40, 0.02, 0.01), [8, 32])["holds"]
    assert not degradation_claim(metrics(0.01, 0.05, 0.02, 0.01), [8, 32])["holds"]  # plain did not degrade
    assert not degradation_claim(metrics(0.01, 0.40, 0.02, 0.10), [8, 32])["holds"]  # residual degraded too
    assert not degradation_claim(metrics(0.30, 0.60, 0.30, 0.29), [8, 32])["holds"]  # gaps fine, nothing learned
    assert not degradation_claim(metrics(0.01, 0.40, 0.11, 0.10), [8, 32])["holds"]  # one shallow net did not learn
    assert degradation_claim(metrics(0.10, 0.40, 0.10, 0.11), [8, 32])["learned"]  # the bound itself passes
    assert not degradation_claim({}, [8, 32])["holds"]  # missing metrics never pass
    assert math.isnan(degradation_claim({}, [8, 32])["value"]["plain_gap"])
