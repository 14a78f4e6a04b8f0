"""scripts/benchmark_batch_norm.py: the layers it swaps, and that the swap leaves the model's function alone."""

import importlib.util
import os

import torch

from custom_modules.models.channels_last import NarrowBatchNorm2d
from custom_modules.res2net import Res2Net50

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script():
    spec = importlib.util.spec_from_file_location(
        "_benchmark_batch_norm", os.path.join(ROOT, "scripts", "benchmark_batch_norm.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stem_and_bn1_layers_become_narrow_with_the_same_training_output():
    script = load_script()
    torch.manual_seed(0)
    model = Res2Net50(input_size=40, m_channels=16, embedding_dim=8).double().train()
    reference = Res2Net50(input_size=40, m_channels=16, embedding_dim=8).double().train()
    reference.load_state_dict(model.state_dict())
    swapped = script.narrow_wide_layers(model)
    # the stem (16) and every block's bn1 (width x 4: 24, 52, 104, 208 for m16) up to the limit
    assert sorted(set(swapped)) == [16, 24, 52] and len(swapped) == 1 + 3 + 4
    assert all(type(m) is not torch.nn.BatchNorm2d or m.num_features > 63 for m in model.modules())
    x, lens = torch.randn(4, 30, 40, dtype=torch.float64), torch.ones(4)
    limit = NarrowBatchNorm2d.narrow_channels
    try:
        NarrowBatchNorm2d.narrow_channels = script.WIDE_LIMIT
        out = model(x, lens)
    finally:
        NarrowBatchNorm2d.narrow_channels = limit
    torch.testing.assert_close(out, reference(x, lens), rtol=1e-9, atol=1e-9)


def test_the_batch_norm_act_calls_recorded_are_every_batch_norm_of_a_step():
    script = load_script()
    torch.manual_seed(0)
    model = Res2Net50(input_size=40, m_channels=8, embedding_dim=8).train()
    calls = script.batch_norm_act_calls(model, torch.randn(3, 20, 40), torch.ones(3))
    batch_norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert sum(c["count"] for c in calls) == len(batch_norms) == 1 + 16 * 5 + 4
    # one residual call per block (relu(bn3 + shortcut)); the 4 projection shortcuts without ReLU
    assert sum(c["count"] for c in calls if c["residual"]) == 16
    assert sum(c["count"] for c in calls if not c["relu"]) == 4 and all(c["relu"] for c in calls if c["residual"])
    assert calls[0] == {"shape": [3, 8, 40, 20], "relu": True, "residual": False, "module": "BatchNorm2d", "count": 1}
    narrow = [c for c in calls if c["module"] == "NarrowBatchNorm2d"]  # the split layers
    # 3 per block; widths floor(planes * 26 / 64) for planes 8, 16, 32, 64
    assert sum(c["count"] for c in narrow) == 16 * 3 and {c["shape"][1] for c in narrow} == {3, 6, 13, 26}
    assert all(p.grad is None for p in model.parameters())
    timed = script.time_batch_norm_act(calls[0], repeats=1)
    assert timed["c_ms"] > 0 and timed["pytorch_ms"] > 0
