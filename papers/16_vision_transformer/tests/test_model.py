"""Unit tests: patches, class token, positions, attention, the pre-LN block, gradient flow, bad input."""

import pytest
import torch
from vision_transformer.model import (
    MultiHeadSelfAttention,
    PatchEmbedding,
    SmallCNN,
    VisionTransformer,
    ViTConfig,
    attention,
    attention_rollout,
    patchify,
)


def images(cfg, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)


@pytest.mark.parametrize("image_size, patch_size, n_patches", [(8, 2, 16), (8, 4, 4), (8, 8, 1), (32, 4, 64),
                                                                (224, 16, 196)])
def test_patch_count_is_hw_over_p_squared(image_size, patch_size, n_patches):
    cfg = ViTConfig(image_size=image_size, patch_size=patch_size, in_channels=3, d_model=8, n_heads=2)
    assert cfg.n_patches == n_patches == (image_size // patch_size) ** 2
    x = torch.rand(2, 3, image_size, image_size)
    assert patchify(x, patch_size).shape == (2, n_patches, patch_size * patch_size * 3)
    assert PatchEmbedding(cfg)(x).shape == (2, n_patches, 8)


def test_patchify_is_row_major_and_keeps_every_pixel():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    p = patchify(x, 2)
    assert p[0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]


def test_conv_patch_embedding_equals_flatten_then_linear(tiny_cfg):
    # The paper's Eq. 1 writes x_p E; the code uses a strided convolution. Same numbers.
    cfg = ViTConfig(image_size=8, patch_size=4, in_channels=3, d_model=12, n_heads=3)
    torch.manual_seed(0)
    embed = PatchEmbedding(cfg)
    x = torch.rand(2, 3, 8, 8)
    by_linear = patchify(x, 4) @ embed.E + embed.proj.bias  # [2, 4, 12]
    torch.testing.assert_close(embed(x), by_linear, atol=1e-5, rtol=1e-5)


def test_shapes_through_the_model(tiny_model, tiny_cfg):
    x = images(tiny_cfg)
    z0 = tiny_model.embed(x)
    assert z0.shape == (3, tiny_cfg.n_patches + 1, tiny_cfg.d_model)
    z, maps = tiny_model.encode(x, need_weights=True)
    assert z.shape == (3, 17, 16)
    assert [m.shape for m in maps] == [(3, tiny_cfg.n_heads, 17, 17)] * tiny_cfg.n_layers
    assert tiny_model(x).shape == (3, tiny_cfg.n_classes)


def test_class_token_is_prepended_and_shared_by_every_image(tiny_model, tiny_cfg):
    x = images(tiny_cfg, batch=2)
    z0 = tiny_model.embed(x)
    expected = tiny_model.cls_token[0, 0] + tiny_model.pos_embed[0, 0]
    torch.testing.assert_close(z0[0, 0], expected)
    torch.testing.assert_close(z0[1, 0], expected)  # same for any image: it carries no pixels


def test_prediction_reads_only_the_class_token(tiny_model, tiny_cfg):
    x = images(tiny_cfg)
    z, _ = tiny_model.encode(x)
    torch.testing.assert_close(tiny_model(x), tiny_model.head(z[:, 0]))


def test_without_positions_the_model_cannot_see_patch_order(tiny_model, tiny_cfg):
    # Self-attention is permutation-equivariant: only E_pos tells patches apart by place.
    x = images(tiny_cfg, batch=1)
    patches = patchify(x, 2)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    # Put the shuffled patches back into an image: [1, 4, 4, P, P, C] -> [1, C, 8, 8].
    grid = patches[:, perm].reshape(1, 4, 4, 2, 2, 1).permute(0, 5, 1, 3, 2, 4).reshape(1, 1, 8, 8)
    torch.testing.assert_close(patchify(grid, 2), patches[:, perm])
    with_pos = tiny_model(x), tiny_model(grid)
    assert not torch.allclose(*with_pos, atol=1e-4)
    with torch.no_grad():
        tiny_model.pos_embed.zero_()
    torch.testing.assert_close(tiny_model(x), tiny_model(grid), atol=1e-5, rtol=1e-5)


def test_attention_weights_are_distributions_and_fused_path_agrees():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
    out, w = attention(q, k, v)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5))
    assert torch.all(w >= 0)
    msa = MultiHeadSelfAttention(12, 3).eval()
    z = torch.randn(2, 5, 12)
    fused, none = msa(z)
    explicit, weights = msa(z, need_weights=True)
    assert none is None and weights.shape == (2, 3, 5, 5)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_pre_ln_block_is_identity_when_sublayers_output_zero(tiny_cfg):
    # Pre-LN: z' = z + MSA(LN(z)). Zero the sublayers' output projections and the block is exactly the
    # identity: the residual stream is never normalised, unlike the original post-LN Transformer.
    torch.manual_seed(0)
    model = VisionTransformer(tiny_cfg).eval()
    block = model.blocks[0]
    with torch.no_grad():
        for lin in (block.msa.W_o, block.mlp.W_2):
            lin.weight.zero_()
            lin.bias.zero_()
    z = torch.randn(2, 17, tiny_cfg.d_model) * 5 + 3
    out, _ = block(z)
    torch.testing.assert_close(out, z)


def test_attention_rollout_rows_are_distributions(tiny_model, tiny_cfg):
    _, maps = tiny_model.encode(images(tiny_cfg), need_weights=True)
    r = attention_rollout(maps)
    assert r.shape == (3, 17, 17)
    torch.testing.assert_close(r.sum(-1), torch.ones(3, 17))
    # One layer of uniform attention: rollout = (uniform + I) / 2.
    uniform = [torch.full((1, 2, 4, 4), 0.25)]
    torch.testing.assert_close(attention_rollout(uniform)[0], (torch.full((4, 4), 0.25) + torch.eye(4)) / 2)
    with pytest.raises(ValueError, match="need_weights=True"):
        attention_rollout([None])


def test_gradient_reaches_every_parameter(tiny_cfg):
    torch.manual_seed(0)
    model = VisionTransformer(tiny_cfg)
    with torch.no_grad():
        model.head.weight.normal_()  # a zero head would block the gradient to everything below it
    model(images(tiny_cfg)).logsumexp(-1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    cnn = SmallCNN()
    cnn(torch.rand(4, 1, 8, 8)).logsumexp(-1).mean().backward()
    for name, p in cnn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_zero_head_starts_every_class_equal(tiny_cfg):
    model = VisionTransformer(tiny_cfg)
    assert torch.equal(model(images(tiny_cfg)), torch.zeros(3, tiny_cfg.n_classes))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": 8, "patch_size": 3}, r"image_size \(8\) must be divisible by patch_size \(3\)"),
        ({"d_model": 30, "n_heads": 4}, r"d_model \(30\) must be divisible by n_heads \(4\)"),
        ({"n_layers": 0}, "n_layers must be >= 1"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_impossible_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ViTConfig(**({"d_model": 16, "n_heads": 4} | kwargs))


def test_wrong_images_are_rejected(tiny_model):
    with pytest.raises(ValueError, match="images have 3 channels, the model expects in_channels=1"):
        tiny_model(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="images are 16x16, the model expects image_size=8"):
        tiny_model(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"images must be \[batch, channels, height, width\]"):
        tiny_model(torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="divisible by n_heads"):
        MultiHeadSelfAttention(10, 3)
