"""ONNX export (recipes/export.py --format onnx): parity with torch, padding invariance, and
embed.py / verify.py on onnxruntime alone (torch made impossible to import)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DEV_DATA

from custom_modules.experiment import load_experiment
from custom_modules.export.onnx_export import OPSET, export_onnx
from custom_modules.export.onnx_runtime import OnnxEmbedder
from custom_modules.models.embedding import embed_utterances, pad_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPELINE = """sample_rate: 16000
compute_features: !new:custom_modules.models.features.SpeakerFeatures
    kind: fbank
    n_features: 80
    sample_rate: 16000
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
"""  # the feature pipeline of hparams/res2net_am_smalldata.yaml and ecapa_am_smalldata.yaml
ENCODERS = {
    "res2net": """embedding_model: !new:custom_modules.models.res2net.Res2Net50
    input_size: 80
    m_channels: 4
    embedding_dim: 32
""",
    "ecapa": """embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: 80
    channels: [32, 32, 32, 32, 96]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 16
    lin_neurons: 24
""",
}
CALIBRATION = {"a": 2.0, "b": -0.5, "p_target": 0.01, "trials": "made-up trials"}
NO_TORCH = (  # runs a recipe in a Python where `import torch` raises ImportError
    "import runpy, sys; sys.modules['torch'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def model_folder(folder, kind):
    """A model folder in the exported layout with a randomly initialised small encoder."""
    from hyperpyyaml import load_hyperpyyaml

    os.makedirs(folder)
    text = PIPELINE + ENCODERS[kind]
    with open(os.path.join(folder, "hyperparams.yaml"), "w") as handle:
        handle.write(text)
    torch.manual_seed(0)
    encoder = load_hyperpyyaml(text)["embedding_model"]
    for module in encoder.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    torch.save(encoder.state_dict(), os.path.join(folder, "embedding_model.ckpt"))
    with open(os.path.join(folder, "model_card.json"), "w") as handle:
        json.dump({"calibration": CALIBRATION}, handle)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{kind: (torch extractor, OnnxEmbedder, model folder, onnx path)}; Res2Net50 exported with
    the recipe (--format onnx --calibration), ECAPA with the library function."""
    root = tmp_path_factory.mktemp("onnx")
    found = {}
    for kind in ("res2net", "ecapa"):
        folder = model_folder(str(root / kind), kind)
        path = str(root / f"{kind}.onnx")
        extractor = load_experiment(folder).extractor
        if kind == "res2net":
            calibration = root / "calibration.json"
            calibration.write_text(json.dumps(CALIBRATION))
            out = path[: -len(".onnx")]  # the suffix is added
            result = run(
                "recipes/export.py",
                f"--experiment={folder}",
                f"--output={out}",
                "--format=onnx",
                f"--calibration={calibration}",
            )
            assert result.returncode == 0, result.stderr[-3000:]
            again = run("recipes/export.py", f"--experiment={folder}", f"--output={path}", "--format=onnx")
            assert again.returncode != 0 and f"{path} exists" in again.stderr and again.stderr.count("\n") == 1
        else:
            export_onnx(extractor, path, card={"calibration": CALIBRATION})
        found[kind] = (extractor, OnnxEmbedder(path, threads=1), folder, path)
    return found


def relative_errors(got, reference):
    return np.linalg.norm(got - reference, axis=1) / np.linalg.norm(reference, axis=1)


def check_parity(extractor, onnx, signals, batch=16, invariant=True, per_utterance=1e-4):
    """ONNX == torch on padded batches and alone: 1e-4 relative over the whole set (norm of all
    differences / norm of all embeddings), ``per_utterance`` for each one. With ``invariant``, ONNX is as
    padding-invariant as torch: its padded-batch embedding is as close to the alone one as
    torch's is (to 1e-4). Returns the largest relative error, the largest padding gap
    and the whole-set relative error."""
    alone_onnx, alone_torch, batched_onnx, batched_torch = [], [], [], []
    with torch.no_grad():
        for signal in signals:
            wav = torch.from_numpy(signal)[None]
            alone_torch.append(extractor(wav, torch.ones(1)).reshape(-1).numpy())
            alone_onnx.append(onnx(wav.numpy(), np.ones(1, np.float32))[0])
        for first in range(0, len(signals), batch):
            wavs, lens = pad_batch([torch.from_numpy(s) for s in signals[first : first + batch]])
            batched_torch.extend(extractor(wavs, lens).flatten(1).numpy())
            batched_onnx.extend(onnx(wavs.numpy(), lens.numpy()))
    alone_onnx, alone_torch, batched_onnx, batched_torch = map(
        np.stack, (alone_onnx, alone_torch, batched_onnx, batched_torch)
    )
    pairs = ((alone_onnx, alone_torch), (batched_onnx, batched_torch))
    whole = max(np.linalg.norm(got - reference) / np.linalg.norm(reference) for got, reference in pairs)
    assert whole < 1e-4
    worst = max(relative_errors(alone_onnx, alone_torch).max(), relative_errors(batched_onnx, batched_torch).max())
    assert worst < per_utterance
    gap_onnx, gap_torch = relative_errors(batched_onnx, alone_onnx), relative_errors(batched_torch, alone_torch)
    if invariant:
        assert np.all(gap_onnx <= gap_torch + 1e-4)
    return worst, gap_onnx.max(), whole


def synthetic_signals(count=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(40000) / 16000
    signals = []
    for i in range(count):
        n = int(rng.integers(1600, 40000)) if i else 160  # one of a single frame's hop
        wave = sum(np.sin(2 * np.pi * (90 + 30 * i) * k * t[:n]) / k for k in range(1, 5))
        signals.append((0.1 * wave + 0.01 * rng.standard_normal(n)).astype(np.float32))
    return signals


@pytest.mark.parametrize("kind", ["res2net", "ecapa"])
def test_onnx_equals_torch_and_is_padding_invariant_on_synthetic_audio(models, kind):
    extractor, onnx, _, path = models[kind]
    signals = synthetic_signals()
    if kind == "ecapa":  # ECAPA's reflect padding needs more frames than its dilated kernels span
        signals = signals[1:]
    # ECAPA-TDNN pads its convolutions by reflection: a padded batch changes the valid frames
    # next to the padding in torch too, so only Res2Net50 is padding-invariant
    _, gap, _ = check_parity(extractor, onnx, signals, batch=5, invariant=kind == "res2net")
    if kind == "res2net":
        assert gap < 1e-4  # padded or alone, the same embedding
    assert onnx.opset == OPSET and onnx.sample_rate == 16000
    assert onnx.embedding_dim == (32 if kind == "res2net" else 24)
    assert onnx.card["calibration"] == CALIBRATION
    import onnx as onnx_lib

    graph = onnx_lib.load(path)
    assert [(o.domain, o.version) for o in graph.opset_import if o.domain == ""] == [("", OPSET)]
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
    assert list(inputs) == ["wavs", "wav_lens"] and all(isinstance(d, str) for d in inputs["wavs"])
    assert inputs["wav_lens"] == inputs["wavs"][:1]  # the same dynamic batch axis
    out = graph.graph.output[0]
    assert out.name == "embeddings" and out.type.tensor_type.shape.dim[1].dim_value == onnx.embedding_dim


@pytest.mark.skipif(not os.path.isdir(DEV_DATA), reason="no dev data (../shared/data/dev)")
@pytest.mark.parametrize("kind", ["res2net", "ecapa"])
def test_onnx_equals_torch_on_every_dev_test_utterance(models, kind):
    """The 360 dev test utterances (1 s each), cut to lengths from 0.25 to 1 s so that the padded
    batches mix lengths; padded batches and one at a time."""
    extractor, onnx, _, _ = models[kind]
    with open(os.path.join(DEV_DATA, "test.csv")) as handle:
        rows = [line.split(",") for line in handle.read().strip().splitlines()[1:]]
    signals = []
    for i, row in enumerate(rows):
        samples, _ = sf.read(os.path.join(DEV_DATA, row[2]), dtype="float32")
        signals.append(samples[: 4000 + (i * 211) % 12001])
    assert len(signals) == 360
    worst, gap, whole = check_parity(extractor, onnx, signals, batch=24, invariant=kind == "res2net")
    print(f"{kind}: ONNX vs torch relative difference: whole set {whole:.2e}, largest utterance {worst:.2e}")


def test_embed_and_verify_on_onnxruntime_alone_match_the_torch_path(models, tmp_path):
    _, onnx, folder, path = models["res2net"]
    lengths = [4000, 9000, 16000, 24000, 7000]  # 0.25 to 1.5 s; --max_seconds 1 windows the longest
    rng = np.random.default_rng(3)
    files = []
    for i, n in enumerate(lengths):
        files.append(str(tmp_path / f"u{i}.wav"))
        sf.write(files[-1], (0.1 * rng.standard_normal(n)).astype(np.float32), 16000)
    out = str(tmp_path / "emb.npz")
    result = run(
        "-c", NO_TORCH, "recipes/embed.py", f"--model={path}", "--input", *files, f"--output={out}", "--max_seconds=1"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = np.load(out)
    extractor = load_experiment(folder).extractor
    reference = embed_utterances(extractor, [(f, None, None) for f in files], max_seconds=1.0)
    assert list(saved["ids"]) == [f"u{i}" for i in range(len(files))]
    assert relative_errors(saved["embeddings"], reference).max() < 1e-4

    def verify(model):
        wrapper = ("-c", NO_TORCH) if model.endswith(".onnx") else ()
        result = run(*wrapper, "recipes/verify.py", f"--model={model}", "--enrol", *files[:2], "--test", files[3])
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout.splitlines()

    onnx_lines, torch_lines = verify(path), verify(folder)
    score = lambda lines: float(lines[0].split(":")[1])  # noqa: E731
    assert onnx_lines[0].startswith("score (cosine):") and score(onnx_lines) == pytest.approx(
        score(torch_lines), abs=2e-4
    )
    assert "calibrated log-likelihood ratio" in onnx_lines[1] and onnx_lines[1:] == torch_lines[1:]
    bad = run("-c", NO_TORCH, "recipes/verify.py", f"--model={path}", "--enrol", "/nowhere/x.wav", "--test", files[0])
    assert bad.returncode != 0 and "/nowhere/x.wav" in bad.stderr and bad.stderr.count("\n") == 1
    (tmp_path / "foreign.onnx").write_bytes(b"not a model")
    foreign = run(
        "-c",
        NO_TORCH,
        "recipes/embed.py",
        f"--model={tmp_path / 'foreign.onnx'}",
        "--input",
        files[0],
        f"--output={tmp_path / 'x'}",
    )
    assert foreign.returncode != 0 and "not a readable ONNX model" in foreign.stderr and foreign.stderr.count("\n") == 1


def test_export_refuses_to_overwrite_a_file_it_did_not_write(models, tmp_path):
    _, _, folder, _ = models["res2net"]
    other = tmp_path / "notes.onnx"
    other.write_text("mine")
    result = run("recipes/export.py", f"--experiment={folder}", f"--output={other}", "--format=onnx", "--overwrite")
    assert result.returncode != 0 and "not an ONNX model written by recipes/export.py" in result.stderr
    assert result.stderr.count("\n") == 1 and other.read_text() == "mine"
