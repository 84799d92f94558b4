"""Parity: our ViT equals Hugging Face's ViTModel / ViTForImageClassification given the same random
weights (fp32), through `vision_transformer.convert.from_hf`. Nothing is downloaded."""

import pytest
import torch
import transformers
from vision_transformer.convert import convert_state_dict, from_hf


def hf_config(**kw):
    base = dict(image_size=8, patch_size=2, num_channels=1, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=64, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0, num_labels=10)
    return transformers.ViTConfig(**(base | kw))


def randomise(model):
    # HF initialises LayerNorms to (1, 0) and biases to 0: perturb everything, so a swapped or
    # skipped tensor cannot hide behind an identity.
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("patch, channels, hidden, heads",
                         [(2, 1, 32, 4), (4, 3, 64, 8), (2, 3, 48, 3), (4, 1, 32, 2)])
def test_last_hidden_state_matches_vit_model(patch, channels, hidden, heads):
    torch.manual_seed(0)
    cfg = hf_config(patch_size=patch, num_channels=channels, hidden_size=hidden, num_attention_heads=heads,
                    intermediate_size=2 * hidden)
    hf = randomise(transformers.ViTModel(cfg)).eval()
    ours = from_hf(hf).eval()
    pixels = torch.randn(3, channels, 8, 8)
    expected = hf(pixel_values=pixels).last_hidden_state  # [batch, N + 1, hidden]
    z, _ = ours.encode(pixels)
    assert z.shape == (3, (8 // patch) ** 2 + 1, hidden)
    torch.testing.assert_close(z, expected, atol=1e-5, rtol=1e-5)


def test_attention_weights_match_vit_model():
    cfg = hf_config()
    cfg._attn_implementation = "eager"  # the eager path returns the weights
    hf = randomise(transformers.ViTModel(cfg)).eval()
    ours = from_hf(hf).eval()
    pixels = torch.randn(2, 1, 8, 8)
    expected = hf(pixel_values=pixels, output_attentions=True).attentions
    _, maps = ours.encode(pixels, need_weights=True)
    assert len(maps) == len(expected) == 2
    for got, want in zip(maps, expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_logits_match_vit_for_image_classification():
    hf = randomise(transformers.ViTForImageClassification(hf_config(num_channels=3))).eval()
    ours = from_hf(hf).eval()
    pixels = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(ours(pixels), hf(pixel_values=pixels).logits, atol=1e-5, rtol=1e-5)


def test_legacy_checkpoint_names_convert_to_the_same_weights():
    # transformers 4.x and the Hub's checkpoints say encoder.layer.0.attention.attention.query...
    hf = randomise(transformers.ViTForImageClassification(hf_config()))
    modern = hf.state_dict()
    legacy = {}
    for k, v in modern.items():
        k = (k.replace("vit.layers.", "vit.encoder.layer.").replace("attention.q_proj", "attention.attention.query")
             .replace("attention.k_proj", "attention.attention.key")
             .replace("attention.v_proj", "attention.attention.value")
             .replace("attention.o_proj", "attention.output.dense").replace("mlp.fc1", "intermediate.dense")
             .replace("mlp.fc2", "output.dense"))
        legacy[k] = v
    a, b = convert_state_dict(modern, 2), convert_state_dict(legacy, 2)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_unsupported_reference_settings_are_rejected():
    with pytest.raises(ValueError, match="hidden_act"):
        from_hf(transformers.ViTModel(hf_config(hidden_act="relu")))
    with pytest.raises(ValueError, match="qkv_bias"):
        from_hf(transformers.ViTModel(hf_config(qkv_bias=False)))
    with pytest.raises(ValueError, match="classes"):
        from_hf(transformers.ViTForImageClassification(hf_config()), n_classes=7)
