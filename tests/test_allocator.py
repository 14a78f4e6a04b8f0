"""custom_modules.models.allocator: freed memory kept in the heap (glibc), set once per process when
a Res2Net encoder is built (opt-out by environment variable); oneDNN's primitive cache off in
the training and evaluation recipes."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = (
    "import os\n"
    "from custom_modules.models.res2net import Res2Net50\n"
    "from custom_modules.models import allocator\n"
    "Res2Net50(input_size=40, m_channels=4, embedding_dim=8)\n"
    "print(allocator._state.get('active'), os.environ.get('ONEDNN_PRIMITIVE_CACHE_CAPACITY'))\n"
)


def probe(**env):
    base = {
        k: v for k, v in os.environ.items() if k not in ("RES2NET_SV_KEEP_MALLOC", "ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    }
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env={**base, **env}, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_building_the_encoder_keeps_freed_memory_and_leaves_the_onednn_cache_alone():
    assert probe() == ["True", "None"]
    assert probe(RES2NET_SV_KEEP_MALLOC="0") == ["False", "None"]


def test_the_recipes_switch_the_onednn_cache_off_unless_the_user_sized_it(monkeypatch):
    from custom_modules.models.allocator import ONEDNN_CACHE_ENV, bound_onednn_cache

    monkeypatch.delenv(ONEDNN_CACHE_ENV, raising=False)
    assert bound_onednn_cache() == "0" and os.environ[ONEDNN_CACHE_ENV] == "0"
    monkeypatch.setenv(ONEDNN_CACHE_ENV, "64")
    assert bound_onednn_cache() == "64"  # a value the user set is kept
    for path, entry in (("custom_modules/training/brain.py", "def train("), ("recipes/eval.py", "def main(")):
        text = open(os.path.join(ROOT, path)).read()
        main = text[text.index(entry) :]
        if main.split("\n", 1)[1].lstrip().startswith('"""'):  # past the docstring
            opening = main.index('"""')
            main = main[main.index('"""', opening + 3) + 3 :]
        assert main.index("bound_onednn_cache()") < main.index("hparams")  # before any model exists
