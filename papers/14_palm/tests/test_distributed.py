"""Lightning DDP on 2 CPU processes (gloo): the same LightningModule trains unchanged, and its checkpoint loads."""

import math

import lightning as L
import torch
from palm.data import ShakespeareData
from palm.lightning import PaLMLanguageModel


def test_trains_under_ddp_on_two_cpu_processes(tmp_path):
    module = PaLMLanguageModel(d_model=16, n_heads=2, n_layers=1, sample_chars=0)
    data = ShakespeareData(plays=["macbeth"], seq_len=32, batch_size=4, val_windows=4)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", max_steps=3, limit_val_batches=0,
                        default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(module, datamodule=data)
    ckpt_path = next(tmp_path.rglob("*.ckpt"))
    ckpt = torch.load(ckpt_path, weights_only=False)
    assert ckpt["world_size"] == 2 and ckpt["global_step"] == 3  # written by rank 0 of 2 processes
    restored = PaLMLanguageModel.load_from_checkpoint(ckpt_path)
    # ddp_spawn copies rank 0's trained weights back into this process: the checkpoint holds the same.
    for name, p in module.state_dict().items():
        assert torch.equal(p, restored.state_dict()[name]), name
    ids = torch.randint(0, 96, (2, 16))
    for model in restored.models.values():
        assert math.isfinite(model(ids).sum().item())
    assert not torch.equal(restored.models["parallel"].embed.weight,
                           PaLMLanguageModel(d_model=16, n_heads=2, n_layers=1).models["parallel"].embed.weight)
