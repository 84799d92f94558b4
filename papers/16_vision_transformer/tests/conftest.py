import pytest
import torch
from vision_transformer.model import VisionTransformer, ViTConfig


@pytest.fixture
def tiny_cfg() -> ViTConfig:
    return ViTConfig(image_size=8, patch_size=2, in_channels=1, n_classes=10, d_model=16, n_heads=4, d_ff=32,
                     n_layers=2, dropout=0.0)


@pytest.fixture
def tiny_model(tiny_cfg) -> VisionTransformer:
    torch.manual_seed(0)
    model = VisionTransformer(tiny_cfg).eval()
    with torch.no_grad():  # the head starts at zero; give it weights so the logits say something
        model.head.weight.normal_(std=0.5)
    return model
