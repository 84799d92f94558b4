"""A oneDNN bug this paper's shapes reach, and the workaround (notes.md section 6, "oneDNN").

PyTorch's CPU convolutions go through oneDNN. Its weight gradient of a 1x1, stride-2 convolution on
channels-last tensors with 2 to 7 input channels is wrong: wrong numbers with two threads, heap
corruption (`free(): invalid next size`, the process aborts) with one. Option B's projection is such
a convolution whenever a stage before it has fewer than 8 filters, as in the small nets of the tests.

The training steps run in a child process with one thread, so that a crash is a failed test here and
not a dead test run.
"""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from resnet.data import random_crop

STEPS = textwrap.dedent("""
    import sys
    import torch
    import torch.nn.functional as F
    from resnet.data import ImageData, random_crop
    from resnet.lightning import DegradationExperiment

    torch.set_num_threads(1)
    torch.manual_seed(0)
    channels_last = sys.argv[1] == "true"
    dm = ImageData(batch_size=256)
    dm.setup()
    exp = DegradationExperiment(depths=[8, 14], widths=[4, 8, 8], channels_last=channels_last)
    exp.configure_model()  # what the Trainer calls: the NHWC layout when asked
    projection = exp.nets["resnet8"].conv3_x[0].shortcut[0]  # 4 -> 8 channels, 1x1, stride 2
    assert projection.in_channels == 4 and projection.stride == (2, 2)
    for step, (x, y) in zip(range(3), dm.train_dataloader()):
        x = exp._inputs(random_crop(x, dm.crop_pad))  # the training path: crop, then the layout
        grads = []
        for onednn in (True, False):  # the run's own backward, then a reference with oneDNN off
            exp.zero_grad()
            loss = sum(F.cross_entropy(net(x), y) for net in exp.nets.values())
            if onednn:
                exp.backward(loss)
            else:
                with torch.backends.mkldnn.flags(enabled=False):
                    loss.backward()
            grads.append(projection.weight.grad.clone())
        err = (grads[0] - grads[1]).abs().max().item()
        assert err < 1e-4, f"step {step}: projection's weight gradient differs from the reference by {err}"
    print("ok")
""")


@pytest.mark.parametrize("channels_last", ["false", "true"])
def test_training_steps_on_one_thread_match_the_reference_and_do_not_crash(channels_last):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LIBC_FATAL_STDERR_": "1"}  # glibc's abort message to stderr
    proc = subprocess.run([sys.executable, "-c", STEPS, channels_last], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), (
        f"exit {proc.returncode} (-6: aborted, -11: segfault): {proc.stderr[-1500:]}")


def test_random_crop_keeps_one_channel_images_in_the_standard_layout():
    # A [batch, 1, h, w] window gathered as [batch, h, w, 1] and permuted has strides that PyTorch reads
    # as channels-last, and every convolution after it then runs in the NHWC kernels (the buggy path).
    x = torch.randn(4, 1, 8, 8)
    out = random_crop(x, 1)
    assert out.stride() == x.stride()
    conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
    assert conv(out).stride() == torch.empty(4, 4, 8, 8).stride()
