"""scripts/benchmark_encoders.py: the convolutions it times are those of a real training step."""

import importlib.util
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script():
    spec = importlib.util.spec_from_file_location(
        "benchmark_encoders", os.path.join(ROOT, "scripts/benchmark_encoders.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recorded_convolutions_are_every_conv_of_the_step_with_its_input_shape_and_layout():
    from custom_modules.models.res2net import Res2NetSpeakerEncoder

    script = load_script()
    torch.manual_seed(0)
    model = Res2NetSpeakerEncoder(input_size=16, m_channels=4, num_blocks=(1, 1), strides=(1, 2), embedding_dim=8)
    model.train()
    calls = script.recorded_convolutions(model, torch.randn(3, 10, 16), torch.ones(3))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c[0] for c in calls].count(model.stem[0]) == 1 and {c[0] for c in calls} == set(convs)
    stem = next(c for c in calls if c[0] is model.stem[0])
    assert stem[1] == (3, 1, 16, 10) and stem[3] is False  # the features take no gradient
    first = model.blocks[0]
    assert next(c for c in calls if c[0] is first.conv1)[1:] == ((3, 4, 16, 10), torch.channels_last, True)
    second = model.blocks[1]  # stride 2: its split convolutions read the full-size pieces
    assert next(c for c in calls if c[0] is second.convs[0])[1] == (3, second.width, 16, 10)
    assert next(c for c in calls if c[0] is second.conv3)[1] == (3, 4 * second.width, 8, 5)
    assert all(p.grad is None for p in model.parameters())
    assert script.convolutions_alone(model, torch.randn(3, 10, 16), torch.ones(3), repeats=1) > 0
