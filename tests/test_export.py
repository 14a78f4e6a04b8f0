"""Export to SpeechBrain's pretrained layout, load it with SpeakerRecognition, embed and verify."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import evaluation_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def exported(tiny_experiment, tmp_path_factory):
    data, experiment = tiny_experiment
    out = str(tmp_path_factory.mktemp("export") / "model")
    result = run(
        "recipes/export.py",
        f"--experiment={experiment}",
        f"--output={out}",
        f"--eval_results={evaluation_folder(experiment)}/results.json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return data, experiment, out


def eval_embeddings(experiment):
    saved = np.load(os.path.join(evaluation_folder(experiment), "embeddings.npz"))
    return {u: e for u, e in zip(saved["ids"], saved["embeddings"])}


def test_speechbrain_loads_the_export_offline_in_a_fresh_process(exported, tmp_path):
    data, experiment, model = exported
    embeddings = eval_embeddings(experiment)
    ids = sorted(embeddings)[:2]
    files = [os.path.join(data, "test_audio", "wav", i[1:] + ".wav") for i in ids]  # tspk0/u0 -> spk0/u0
    script = f"""
import json, torch
from speechbrain.inference.speaker import SpeakerRecognition
m = SpeakerRecognition.from_hparams(source={model!r}, savedir={str(tmp_path / "saved")!r})
sig = m.load_audio({files[0]!r}, savedir={str(tmp_path / "audio")!r})
emb = m.encode_batch(sig[None], torch.ones(1)).reshape(-1).tolist()
score, _ = m.verify_files({files[0]!r}, {files[1]!r}, savedir={str(tmp_path / "audio")!r})
print(json.dumps({{"emb": emb, "score": float(score)}}))
"""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "HF_HUB_OFFLINE": "1"}  # installed package
    result = run("-c", script, cwd=str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert np.allclose(got["emb"], embeddings[ids[0]], atol=1e-5)
    a, b = embeddings[ids[0]], embeddings[ids[1]]
    assert got["score"] == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-5)


def test_embed_matches_eval_embeddings(exported, tmp_path):
    data, experiment, model = exported
    out = str(tmp_path / "emb.npz")
    result = run("recipes/embed.py", f"--model={model}", "--input", os.path.join(data, "test.csv"), f"--output={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    saved = np.load(out)
    reference = eval_embeddings(experiment)
    assert len(saved["ids"]) == 8 and saved["embeddings"].dtype == np.float32
    for utt, emb in zip(saved["ids"], saved["embeddings"]):
        assert np.allclose(emb, reference[utt], atol=1e-5)
    again = run("recipes/embed.py", f"--model={model}", "--input", os.path.join(data, "test.csv"), f"--output={out}")
    assert again.returncode != 0 and "exists" in again.stderr
    # without the suffix the same file is meant (np.savez adds it): refused too, the file untouched
    before = open(out, "rb").read()
    bare = run(
        "recipes/embed.py", f"--model={model}", "--input", os.path.join(data, "test.csv"), f"--output={out[:-4]}"
    )
    assert bare.returncode != 0 and f"{out} exists" in bare.stderr and open(out, "rb").read() == before
    assert not [f for f in os.listdir(tmp_path) if "partial" in f]


def test_verify_prints_the_cosine_and_a_named_decision(exported):
    data, experiment, model = exported
    embeddings = eval_embeddings(experiment)
    enrol = [os.path.join(data, "test_audio", "wav", "spk0", f"u{i}.wav") for i in (0, 1)]
    test = os.path.join(data, "test_audio", "wav", "spk1", "u0.wav")
    result = run("recipes/verify.py", f"--model={model}", "--enrol", *enrol, "--test", test)
    assert result.returncode == 0, result.stderr[-3000:]
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    expected = unit(unit(embeddings["tspk0/u0"]) + unit(embeddings["tspk0/u1"])) @ unit(embeddings["tspk1/u0"])
    line = [line for line in result.stdout.splitlines() if line.startswith("score (cosine):")][0]
    assert float(line.split(":")[1]) == pytest.approx(float(expected), abs=1e-4)
    assert "min_dcf_0.01 threshold measured on" in result.stdout
    bad = run("recipes/verify.py", f"--model={model}", "--enrol", "/nowhere/x.wav", "--test", test)
    assert bad.returncode != 0 and "/nowhere/x.wav" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_export_refuses_to_overwrite_and_names_a_truncated_checkpoint(exported, tmp_path):
    data, experiment, model = exported
    again = run("recipes/export.py", f"--experiment={experiment}", f"--output={model}")
    assert again.returncode != 0 and "not empty" in again.stderr
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(model, broken)
    (broken / "embedding_model.ckpt").write_bytes(b"\x80\x02truncated")
    from custom_modules.experiment import ExperimentError, load_experiment

    with pytest.raises(ExperimentError, match="embedding_model.ckpt"):
        load_experiment(str(broken))


def test_export_never_replaces_what_it_did_not_write(exported, tmp_path):
    """--overwrite replaces a previous export only: not the experiment, a folder holding it or
    inside it, nor any other non-empty folder; each refusal names the folder and leaves it whole."""
    data, experiment, model = exported
    before = sorted(os.listdir(experiment))
    holder = os.path.dirname(os.path.dirname(experiment))  # exp/ with the experiment inside
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    for output, message in [
        (experiment, "is the experiment folder"),
        (os.path.join(experiment, "model"), "is the experiment folder"),
        (holder, "holds the experiment"),
        (str(other), "is not a model folder written by recipes/export.py"),
    ]:
        result = run("recipes/export.py", f"--experiment={experiment}", f"--output={output}", "--overwrite")
        assert result.returncode != 0 and message in result.stderr and output in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1  # one line, no traceback
    assert sorted(os.listdir(experiment)) == before and (other / "keep.txt").read_text() == "mine"
    # a previous export is replaced
    again = run("recipes/export.py", f"--experiment={experiment}", f"--output={model}", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]


def test_verify_warns_on_audio_that_says_little_but_still_scores(exported, tmp_path):
    import soundfile as sf

    data, experiment, model = exported
    good = os.path.join(data, "test_audio", "wav", "spk0", "u0.wav")
    tone = (0.1 * np.sin(np.arange(16000) / 5.0)).astype("float32")
    files = {
        "one_sample.wav": (np.array([0.1], dtype="float32"), "only 1 samples (0.000 s)"),
        "silent.wav": (np.zeros(16000, dtype="float32"), "silent (RMS 0.0e+00"),
        "cancelling.wav": (np.stack([tone, -tone], axis=1), "its 2 channels cancel when averaged to mono"),
    }
    for name, (samples, message) in files.items():
        path = str(tmp_path / name)
        sf.write(path, samples, 16000, subtype="FLOAT")
        result = run("recipes/verify.py", f"--model={model}", "--enrol", good, "--test", path)
        assert result.returncode == 0 and "score (cosine):" in result.stdout, result.stderr[-2000:]
        assert f"WARN {path}: {message}" in result.stderr, result.stderr


def test_calibrated_interface_decides_with_the_stored_threshold_not_0_25(exported, tmp_path):
    """SpeakerRecognition decides at cosine > 0.25; CalibratedSpeakerRecognition loaded from
    the same folder uses the threshold eval measured (and says on which trials)."""
    data, experiment, _ = exported
    model = str(tmp_path / "model")  # an export of its own: another test re-exports the shared one
    result = run(
        "recipes/export.py",
        f"--experiment={experiment}",
        f"--output={model}",
        f"--eval_results={evaluation_folder(experiment)}/results.json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.load(open(os.path.join(evaluation_folder(experiment), "results.json")))
    stored = {d["p_target"]: d["threshold"] for d in results["systems"]["none"]["min_dcf"]}[0.01]
    embeddings = eval_embeddings(experiment)
    ids = sorted(embeddings)
    pairs = [
        (ids[i], ids[j])
        for i in range(len(ids))
        for j in range(i + 1, len(ids))
        if ids[i].split("/")[-1] != ids[j].split("/")[-1]
    ][:6]  # SpeechBrain caches audio by file name
    files = {i: os.path.join(data, "test_audio", "wav", i[1:] + ".wav") for pair in pairs for i in pair}
    script = f"""
import json
from custom_modules.export.interface import CalibratedSpeakerRecognition
from speechbrain.inference.speaker import SpeakerRecognition
calibrated = CalibratedSpeakerRecognition.from_hparams(source={model!r}, savedir={str(tmp_path / "s1")!r})
plain = SpeakerRecognition.from_hparams(source={model!r}, savedir={str(tmp_path / "s2")!r})
out = []
for k, (x, y) in enumerate({[(files[a], files[b]) for a, b in pairs]!r}):
    cache = {str(tmp_path)!r} + f"/audio{{k}}"  # one audio cache per pair: it is keyed by file name
    score, same = calibrated.verify_files(x, y, savedir=cache)
    _, plain_same = plain.verify_files(x, y, savedir=cache)
    out.append([float(score), bool(same), bool(plain_same)])
print(json.dumps({{"rows": out, "source": calibrated.decision_source()}}))
"""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "HF_HUB_OFFLINE": "1"}  # installed package
    result = run("-c", script, cwd=str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert "min_dcf_0.01 threshold" in got["source"] and results["trials"] in got["source"]
    for (a, b), (score, same, plain_same) in zip(pairs, got["rows"]):
        x, y = embeddings[a], embeddings[b]
        cosine = float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
        assert score == pytest.approx(cosine, abs=1e-5)  # no calibration stored: the cosine itself
        assert same == (cosine >= stored) and plain_same == (cosine > 0.25)
    assert any(same != plain_same for _, same, plain_same in got["rows"])  # the two rules part somewhere


def test_a_global_normalisers_statistics_travel_with_the_export(tiny_dataset, tmp_path):
    """export.py saved only the encoder: a model trained with a global normaliser lost its
    mean and std on export (SpeechBrain and load_pretrained then normalised with zeros).
    The export now carries mean_var_norm.ckpt and both loaders apply it."""

    from custom_modules.experiment import load_experiment, load_pretrained

    hparams = tmp_path / "global.yaml"
    text = open(os.path.join(ROOT, "hparams", "res2net_am_demo.yaml")).read()
    assert "norm_type: sentence" in text
    hparams.write_text(text.replace("norm_type: sentence", "norm_type: global"))
    experiment, out = str(tmp_path / "exp"), str(tmp_path / "model")
    trained = run(
        "recipes/train.py",
        str(hparams),
        f"--data_folder={tiny_dataset}",
        f"--output_folder={experiment}",
        "--m_channels=4",
        "--embedding_dim=16",
        "--n_features=40",
        "--batch_size=4",
        "--crop_seconds=0.3",
        "--num_workers=0",
        "--noprogressbar",
        "--number_of_epochs=1",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert run("recipes/export.py", f"--experiment={experiment}", f"--output={out}").returncode == 0
    assert os.path.isfile(os.path.join(out, "mean_var_norm.ckpt"))
    original, exported = load_experiment(experiment, "last"), load_pretrained(out)
    mean = original.extractor.mean_var_norm.glob_mean
    assert float(mean.abs().sum()) > 0  # statistics were learned
    assert torch.equal(exported.extractor.mean_var_norm.glob_mean, mean)
    wav = torch.randn(1, 8000)
    with torch.no_grad():
        a = original.extractor(wav, torch.ones(1))
        b = exported.extractor(wav, torch.ones(1))
    assert torch.allclose(a, b, atol=1e-6)
