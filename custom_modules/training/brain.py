"""Speaker-embedding training as a library function: what ``recipes/train.py`` runs.

:func:`train` takes the recipe's command line (an hparams file, overrides, SpeechBrain run
options) and trains in this process, so other commands (``recipes/crossval.py``) call it
without starting a recipe. :class:`SpeakerBrain` holds the Brain hooks: features ->
normalisation -> encoder -> AM-Softmax, epoch statistics over the whole epoch, the held-out
EER, metrics.jsonl and checkpoints. What is logged and how interrupted runs resume is
described in ``recipes/train.py``.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from typing import List

import speechbrain as sb
import torch
import torch.distributed as dist
from hyperpyyaml import load_hyperpyyaml
from torch.nn import SyncBatchNorm
from torch.nn.parallel import DistributedDataParallel

from custom_modules.data.augmentation import random_batch_crop
from custom_modules.data.dataio import DataError, effective_valid_annotation, read_speaker_csv, speaker_datasets
from custom_modules.data.sampling import balanced_corpus_sampler, corpus_of_rows
from custom_modules.diagnostics.preflight import preflight
from custom_modules.diagnostics.verdicts import FAIL, WARN, format_verdict
from custom_modules.experiment import write_experiment_record
from custom_modules.models.allocator import bound_onednn_cache, peak_resident_gib
from custom_modules.models.embedding import EmbeddingExtractor, compute_embeddings
from custom_modules.outputs.atomic import OutputError
from custom_modules.outputs.experiment_directory import create_experiment_directory
from custom_modules.outputs.output_safety import refuse_output_over
from custom_modules.outputs.run_lock import FolderBusy, hold_folder_lock
from custom_modules.scoring.heldout import embed_heldout, pairwise_eer
from custom_modules.training.checkpoints import (
    drop_records_after,
    foreign_checkpoint_reason,
    save_files_atomically,
    set_aside_incomplete,
)
from custom_modules.training.init_from import (
    HEAD_HINT,
    InitError,
    check_same_speakers,
    head_file,
    load_encoder_state,
    pretrained_files,
)


def parameter_digest(modules: torch.nn.ModuleDict) -> str:
    """sha256 of every parameter and buffer, in name order: two runs that trained the same
    weights, bit for bit, log the same digest (metrics.jsonl, each epoch)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(unwrap(modules).state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP/DP wrapper, or the module itself."""
    return getattr(module, "module", module)


KILL_ENV = "RES2NET_SV_KILL_AT"  # fault injection for tests: "<point>:<epoch>" SIGKILLs the run there


def kill_if_asked(point: str, epoch: int) -> None:
    """SIGKILL this process at ``point`` of ``epoch`` when ``RES2NET_SV_KILL_AT`` names them
    (before_checkpoint, during_checkpoint, after_checkpoint): the tests kill real runs
    where they write, then check that a rerun of the same command continues."""
    if os.environ.get(KILL_ENV) == f"{point}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


class SpeakerBrain(sb.Brain):
    """Speaker-embedding training: features -> normalisation -> encoder -> AM-Softmax."""

    def compute_forward(self, batch, stage):
        """Embeddings and the labels they answer to (speed perturbation changes labels)."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        labels = batch.spk_id_encoded.data.reshape(-1)
        feature_augment = None
        if stage == sb.Stage.TRAIN:
            min_crop = getattr(self.hparams, "min_crop_seconds", None)  # one random length per batch
            if min_crop:
                rate, crop = self.hparams.sample_rate, self.hparams.crop_seconds
                wavs, lens = random_batch_crop(wavs, lens, int(min_crop * rate), int(crop * rate))
            augmentation = getattr(self.hparams, "augmentation", None)
            if augmentation is not None:
                wavs, lens, labels = augmentation(wavs, lens, labels)
            feature_augment = getattr(self.hparams, "feature_masking", None)
        embeddings = compute_embeddings(
            self.modules.compute_features,
            self.modules.mean_var_norm,
            self.modules.embedding_model,
            wavs,
            lens,
            feature_augment=feature_augment,
        )
        return embeddings, labels

    def compute_objectives(self, predictions, batch, stage):
        embeddings, labels = predictions
        out = self.modules.classifier(embeddings, labels)
        counts = self.counts[stage]
        counts["loss_sum"] += out.loss.detach().float() * out.total
        counts["correct"] += out.correct
        counts["total"] += out.total
        return out.loss

    def heldout_eer(self):
        """EER over all pairs of the held-out speakers' utterances (None without them)."""
        if getattr(self, "heldout_loader", None) is None:
            return None
        extractor = EmbeddingExtractor(
            self.modules.compute_features, self.modules.mean_var_norm, unwrap(self.modules.embedding_model)
        )
        embeddings, speakers = embed_heldout(extractor, self.heldout_loader, self.device)
        return pairwise_eer(embeddings, speakers)

    def on_stage_start(self, stage, epoch=None):
        self.current_epoch = epoch or 1
        self.counts = getattr(self, "counts", {})
        self.counts[stage] = {
            key: torch.zeros((), dtype=torch.float64, device=self.device) for key in ("loss_sum", "correct", "total")
        }
        if stage == sb.Stage.TRAIN and getattr(self, "balanced_sampler", None) is not None:
            self.report_balanced_draws(self.current_epoch)
        if stage == sb.Stage.TRAIN:
            self.freeze_encoder(self.current_epoch <= int(getattr(self.hparams, "freeze_encoder_epochs", 0) or 0))
            self.stage_start_time = time.time()
            # > 0 only when this epoch resumes from an intra-epoch checkpoint (--ckpt_interval_minutes)
            self.resumed_after_step = int(getattr(self, "step", 0))

    def report_balanced_draws(self, epoch: int) -> None:
        """New draws every epoch (the sampler is seeded by seed + epoch, also on resume), and
        what they hold: each corpus's share and a digest that differs between epochs."""
        sampler = self.balanced_sampler
        sampler.set_epoch(epoch)
        draws = list(iter(sampler))
        shares = Counter(self.balanced_corpora[i] for i in draws)
        digest = hashlib.sha256(str(draws).encode()).hexdigest()[:10]
        sb.utils.distributed.run_on_main(
            lambda: print(
                f"epoch {epoch}: balanced draws "
                + ", ".join(f"{c} {100 * n / len(draws):.0f}%" for c, n in sorted(shares.items()))
                + f" (draws {digest})"
            )
        )

    def freeze_encoder(self, frozen: bool) -> None:
        """Fine-tuning's first stage: the encoder takes no gradient (the new head trains alone)
        and its batch norms keep their statistics (evaluation mode, set again every step)."""
        encoder = unwrap(self.modules.embedding_model)
        if frozen != getattr(self, "encoder_frozen", False):
            sb.utils.distributed.run_on_main(
                lambda: print(
                    f"epoch {self.current_epoch}: encoder {'frozen, the head trains alone' if frozen else 'trains again'}"
                )
            )
        self.encoder_frozen = frozen
        for parameter in encoder.parameters():
            parameter.requires_grad_(not frozen)

    def on_fit_batch_start(self, batch, should_step):
        """Per-step learning rate and margin from the training progress (resume-safe)."""
        if getattr(self, "encoder_frozen", False):
            unwrap(self.modules.embedding_model).eval()
        progress = (self.current_epoch - 1) + self.step / self.hparams.steps_per_epoch
        self.hparams.lr_schedule.apply(self.optimizer, progress)
        unwrap(self.modules.classifier).set_epoch(progress)

    def _epoch_stats(self, stage) -> dict:
        counts = self.counts[stage]
        values = torch.stack([counts["loss_sum"], counts["correct"], counts["total"]])
        if stage == sb.Stage.TRAIN and dist.is_available() and dist.is_initialized():
            # training is sharded over ranks: sum their counts; every rank validates on the
            # whole validation set (SpeechBrain shards only training), so those stay local
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        loss_sum, correct, total = values.tolist()
        total = int(total)
        return {
            "loss": loss_sum / max(total, 1),
            "acc": correct / max(total, 1),
            "correct": int(correct),
            "samples": total,
        }

    def _check_ranks_in_sync(self) -> None:
        """Under DDP, every rank must hold the same parameters: compare a checksum."""
        if not (dist.is_available() and dist.is_initialized()):
            return
        checksum = torch.stack([p.detach().double().sum() for p in self.modules.parameters()]).sum().reshape(1)
        gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, checksum)
        values = [float(g) for g in gathered]
        if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
            raise RuntimeError(f"DDP ranks diverged: parameter checksums {values}")
        if sb.utils.distributed.if_main_process():
            print(f"parameters identical across {len(values)} ranks (checksum {values[0]:.6f})")

    def on_stage_end(self, stage, stage_loss, epoch=None):
        stats = self._epoch_stats(stage)
        if stage == sb.Stage.VALID:
            self._check_ranks_in_sync()
        if stage == sb.Stage.TRAIN:
            stats["seconds"] = round(time.time() - self.stage_start_time, 1)
            if self.resumed_after_step:  # the steps before the interruption were not counted
                stats["resumed_after_step"] = self.resumed_after_step
                print(
                    f"note: epoch {epoch} resumed after step {self.resumed_after_step} of "
                    f"{self.hparams.steps_per_epoch}: its train loss and accuracy cover the remaining steps only"
                )
            self.train_stats = stats
            return
        if stage != sb.Stage.VALID:
            return
        classifier = unwrap(self.modules.classifier)
        meta = {
            "epoch": epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
            "margin": round(classifier.margin, 4),
        }
        heldout = self.heldout_eer()
        checkpoint_keys = {"max_keys": ["valid_acc"]}
        if heldout is not None:
            stats["heldout_eer"] = round(heldout.eer, 5)  # a fraction, as every EER: all pairs of held-out speakers
            stats["heldout_trials"] = heldout.target_trials + heldout.nontarget_trials
            checkpoint_keys["min_keys"] = ["heldout_eer"]
            if hasattr(self.hparams.epoch_counter, "update_metric"):  # early stopping on the EER
                self.hparams.epoch_counter.update_metric(heldout.eer)
        self.hparams.train_logger.log_stats(
            stats_meta=meta, train_stats=getattr(self, "train_stats", None), valid_stats=stats
        )
        if sb.utils.distributed.if_main_process():
            record = {
                **meta,
                "train": getattr(self, "train_stats", None),
                "valid": stats,
                "parameters_sha256": parameter_digest(self.modules),
                "peak_rss_gib": round(peak_resident_gib(), 3),
            }
            with open(self.hparams.metrics_file, "a") as handle:
                handle.write(json.dumps(record) + "\n")
        checkpoint_meta = {"valid_acc": stats["acc"], "epoch": epoch}
        if heldout is not None:
            checkpoint_meta["heldout_eer"] = heldout.eer
        kill_if_asked("before_checkpoint", epoch)
        self.checkpointer.save_and_keep_only(meta=checkpoint_meta, num_to_keep=2, **checkpoint_keys)
        kill_if_asked("after_checkpoint", epoch)

    def _wrap_distributed(self):
        """DDP as SpeechBrain does it, but SyncBatchNorm only on GPUs (it fails on CPUs)."""
        if not self.distributed_launch:
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                if self.device_type == "cuda":
                    module = SyncBatchNorm.convert_sync_batchnorm(module)
                device_ids = [self.device] if self.device_type == "cuda" else None
                self.modules[name] = DistributedDataParallel(
                    module, device_ids=device_ids, find_unused_parameters=self.find_unused_parameters
                )


def initialise_encoder(brain: SpeakerBrain, folder: str, resumed: bool, init_head: bool = False) -> None:
    """Fine-tuning: load a pretrained encoder (and normaliser statistics) into a fresh run;
    a resumed run keeps its own checkpoint. The AM-Softmax head stays new, unless
    ``init_head`` keeps the source run's head (same speakers, checked)."""
    if resumed:
        sb.utils.distributed.run_on_main(
            lambda: print(f"init_from {folder}: not applied, this run resumes from its own checkpoint")
        )
        return
    try:
        files = pretrained_files(folder)
        count = load_encoder_state(unwrap(brain.modules.embedding_model), files["embedding_model"])
        normalizer = unwrap(brain.modules.mean_var_norm)
        if files["normalizer"] and hasattr(normalizer, "_load_statistics_dict"):
            normalizer._load_statistics_dict(torch.load(files["normalizer"], map_location="cpu", weights_only=True))
        head = "the AM-Softmax head is new"
        if init_head:
            path = head_file(files["source"])
            speakers = check_same_speakers(folder, brain.hparams.output_folder)
            load_encoder_state(unwrap(brain.modules.classifier), path, "AM-Softmax head", HEAD_HINT)
            head = f"the AM-Softmax head too ({path}, {speakers} speakers)"
    except InitError as error:
        raise SystemExit(f"error: {error}") from None
    sb.utils.distributed.run_on_main(
        lambda: print(f"init_from: encoder initialised from {files['embedding_model']} ({count} tensors); {head}")
    )


def refuse_writing_into_data(hparams_file: str, overrides) -> None:
    """Stop, before loading the hparams creates anything (the logger and checkpointer make
    the output folder), when the output folder is, holds or lies inside the data folder."""
    import ruamel.yaml
    from hyperpyyaml import resolve_references

    try:
        with open(hparams_file) as fin:
            tree = ruamel.yaml.YAML(typ="rt").load(resolve_references(fin, overrides))
        output, data = str(tree["output_folder"]), str(tree["data_folder"])
    except Exception:  # noqa: BLE001 - whatever is wrong here, loading the hparams says it better
        return
    try:
        refuse_output_over(output, {"the data folder": data}, "--output_folder")
    except OutputError as error:
        raise SystemExit(f"error: {error}") from None


def load_hparams(argv):
    """Parse the command line like every SpeechBrain recipe and load the hparams."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    if os.environ.get("RANK") is None and "--distributed_backend" in " ".join(argv):
        # run options for DDP without torchrun would silently train in one process
        raise SystemExit(
            "error: --distributed_backend needs several processes, started by torchrun, e.g.\n"
            f"  torchrun --nproc_per_node=2 recipes/train.py {hparams_file} --distributed_backend=gloo   (CPU)\n"
            f"  torchrun --nproc_per_node=<GPUs> recipes/train.py {hparams_file}                          (GPUs, nccl)"
        )
    device = str(run_opts.get("device", "cuda:0" if torch.cuda.is_available() else "cpu"))
    if run_opts.get("precision") == "fp16" and not (device.startswith("cuda") and torch.cuda.is_available()):
        raise SystemExit(
            f"error: --precision=fp16 needs a CUDA GPU (float16 autocast with a gradient scaler); "
            f"this run is on {device}: use --precision=bf16 on CPUs"
        )
    refuse_writing_into_data(hparams_file, overrides)
    with open(hparams_file) as fin:
        try:
            hparams = load_hyperpyyaml(fin, overrides)
        except DataError as error:
            raise SystemExit(f"error: {error}") from None
        except (TypeError, ValueError) as error:  # a value of the wrong kind, e.g. --num_classes=abc
            # hyperpyyaml wraps the builder's error as ('Invalid argument to class X', reason)
            parts = [str(part) for part in (error.args if len(error.args) > 1 else [error])]
            given = " ".join("--" + line.replace(": ", "=", 1) for line in str(overrides or "").splitlines())
            raise SystemExit(f"error: {hparams_file}{' with ' + given if given else ''}: {': '.join(parts)}") from None
    return hparams_file, run_opts, overrides, hparams


def _refuse_bad_start(hparams_file: str, run_opts: dict, hparams: dict) -> None:
    """Everything checked before the output folder is written: the data folder, the folder lock,
    --debug into a finished run, the prepared validation split, and the preflight verdicts."""
    data_folder = hparams["data_folder"]
    if not os.path.isdir(data_folder):
        raise SystemExit(
            f"error: data folder {data_folder!r} not found. Pass --data_folder=<folder with train.csv>; "
            f"the dev set lives in ../shared/data/dev, and recipes/prepare.py prepares your own data."
        )
    if hparams.get("init_head") and not hparams.get("init_from"):
        raise SystemExit(
            "error: init_head: True keeps the AM-Softmax head of the --init_from run, and init_from is not set; "
            "pass --init_from=<recipes/train.py output folder>, or --init_head=False"
        )
    if sb.utils.distributed.get_rank() in (None, 0):  # one run per output folder, locked by the main
        # process (DDP is not initialised yet, so if_main_process() would be true on every rank)
        try:
            hold_folder_lock(hparams["output_folder"])
        except FolderBusy as busy:
            raise SystemExit(f"error: {busy}") from None
    if run_opts.get("debug") and os.path.isfile(os.path.join(hparams["output_folder"], "metrics.jsonl")):
        raise SystemExit(
            f"error: --debug would write into {hparams['output_folder']}, which holds a training run (metrics.jsonl, "
            f"hyperparams.yaml, checkpoints); pass --output_folder=<another folder> for the debug run"
        )
    valid_csv = effective_valid_annotation(hparams["valid_annotation"], data_folder)
    if valid_csv and not hparams["valid_annotation"]:  # a recipes/prepare.py folder brings its own split
        hparams["valid_annotation"] = valid_csv
        print(f"closed-set validation on {valid_csv} (the prepared split)")
    verdicts = preflight(hparams)  # the config and data checks of recipes/diagnose.py (no model steps)
    failed = [v for v in verdicts if v.status == FAIL]
    if failed:
        raise SystemExit(
            "error: "
            + "\n".join(format_verdict(v) for v in failed)
            + f"\n(python recipes/diagnose.py {hparams_file} ... explains every check)"
        )
    for verdict in verdicts:
        if verdict.status == WARN:
            print(format_verdict(verdict), file=sys.stderr)


def _speaker_data(hparams_file: str, hparams: dict):
    """The training, validation and held-out datasets; the main process records them in
    experiment.json."""
    try:
        data = speaker_datasets(
            data_folder=hparams["data_folder"],
            train_annotation=hparams["train_annotation"],
            output_folder=hparams["output_folder"],
            valid_annotation=hparams["valid_annotation"],
            valid_fraction=hparams["valid_fraction"],
            seed=hparams["seed"],
            sample_rate=hparams["sample_rate"],
            crop_seconds=hparams["crop_seconds"],
            valid_max_seconds=hparams["valid_max_seconds"],
            valid_speakers=hparams.get("valid_speakers", 0),
        )
    except DataError as error:
        raise SystemExit(f"error: {error}") from None
    if sb.utils.distributed.if_main_process():
        write_experiment_record(
            hparams["output_folder"],
            data_folder=hparams["data_folder"],
            train_csv=data.train_csv,
            valid_csv=data.valid_csv,
            sample_rate=hparams["sample_rate"],
            num_classes=int(hparams["num_classes"]),  # classifier outputs (speakers x speeds)
            train_speakers=len(data.label_encoder),
            train_utterances=len(data.train),
            valid_utterances=len(data.valid),
            heldout_csv=data.heldout_csv,
            heldout_utterances=len(data.heldout) if data.heldout is not None else 0,
            hparams_file=os.path.abspath(hparams_file),
        )
    return data


def _set_steps_per_epoch(hparams: dict, data) -> None:
    """``hparams["steps_per_epoch"]`` for the LR schedule; a last batch of one utterance (which
    batch norm cannot normalise in training) is dropped, with a note."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    batch_size = hparams["train_dataloader_options"]["batch_size"]
    per_rank = math.ceil(len(data.train) / world)  # the distributed sampler pads the shards to one size
    if per_rank % batch_size == 1 and per_rank > 1 and not hparams["train_dataloader_options"].get("drop_last"):
        # batch norm cannot normalise one utterance in training (ECAPA's stops with "Expected more than 1
        # value per channel"): drop that last batch, a different utterance each epoch (shuffled)
        hparams["train_dataloader_options"] = {**hparams["train_dataloader_options"], "drop_last": True}
        sb.utils.distributed.run_on_main(
            lambda: print(
                f"note: {per_rank} training utterances in batches of {batch_size} would leave a last batch of one, "
                f"which batch norm cannot normalise: it is dropped each epoch (drop_last)"
            )
        )
    steps = (
        per_rank // batch_size
        if hparams["train_dataloader_options"].get("drop_last")
        else math.ceil(per_rank / batch_size)
    )
    hparams["steps_per_epoch"] = max(1, steps)
    sb.utils.distributed.run_on_main(
        lambda: print(
            f"training on {len(data.train)} utterances of {len(data.label_encoder)} speakers "
            f"({len(data.valid)} held out for closed-set validation); batch {batch_size} x {world} "
            f"process(es) = {batch_size * world} per step, {hparams['steps_per_epoch']} steps per epoch"
        )
    )


def _checkpoint_to_resume(hparams_file: str, hparams: dict):
    """The latest complete checkpoint (incomplete ones set aside, metrics.jsonl cut back to it),
    or None; another model's checkpoint ends the run with one line."""
    checkpointer = hparams["checkpointer"]
    if sb.utils.distributed.if_main_process():  # a run killed while saving must not block every rerun
        set_aside_incomplete(checkpointer.checkpoints_dir, checkpointer.recoverables)
    sb.utils.distributed.ddp_barrier()  # every rank looks for checkpoints only after that
    latest = checkpointer.find_checkpoint()
    if sb.utils.distributed.if_main_process():  # epochs logged but never checkpointed are trained again
        dropped = drop_records_after(hparams["metrics_file"], int(latest.meta.get("epoch", 0)) if latest else 0)
        if dropped:
            print(
                f"resuming from {latest.path if latest else 'the start'}: dropped {dropped} metrics.jsonl line(s) "
                f"of epochs after it, which are trained again"
            )
    if latest is not None:  # another model's checkpoint in this folder: one line, not a state_dict dump
        foreign = foreign_checkpoint_reason(str(latest.path), checkpointer.recoverables)
        if foreign:
            raise SystemExit(
                f"error: {latest.path} does not fit the model of {hparams_file} ({foreign}); it was "
                f"written by another configuration: pass another --output_folder, or move that folder away"
            )
    return latest


def _install_kill_hook(brain: "SpeakerBrain", checkpointer) -> None:
    """Tests only (RES2NET_SV_KILL_AT=during_checkpoint:<epoch>): die after CKPT.yaml and the
    encoder were written, before the head."""
    if not os.environ.get(KILL_ENV, "").startswith("during_checkpoint:"):
        return
    from speechbrain.utils.checkpoints import torch_save

    def save_or_die(obj, path):
        kill_if_asked("during_checkpoint", brain.current_epoch)
        torch_save(obj, path)

    checkpointer.custom_save_hooks["classifier"] = save_or_die


def _loader_options(brain: "SpeakerBrain", hparams: dict, data) -> List[dict]:
    """Training and validation loader options: balanced draws across corpora when asked, pinned
    memory on a GPU; sets the held-out speakers' loader on the brain."""
    loader_options = [dict(hparams["train_dataloader_options"]), dict(hparams["valid_dataloader_options"])]
    if hparams.get("balance_corpora"):  # joint training: every corpus the same share of each epoch
        try:
            corpora = corpus_of_rows(read_speaker_csv(data.train_csv), data.train.data_ids, data.train_csv)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        loader_options[0].pop("shuffle", None)
        loader_options[0]["sampler"] = balanced_corpus_sampler(corpora, int(hparams.get("seed", 0)))
        brain.balanced_sampler, brain.balanced_corpora = loader_options[0]["sampler"], corpora
        counts = Counter(corpora)
        sb.utils.distributed.run_on_main(
            lambda: print(
                f"balance_corpora: {len(corpora)} draws per epoch, with replacement, each of {len(counts)} corpora "
                f"({', '.join(f'{c}: {n} utterances' for c, n in sorted(counts.items()))}) 1/{len(counts)} of them"
            )
        )
    if brain.device_type == "cuda":  # page-locked host memory speeds up host-to-GPU copies
        for options in loader_options:
            options.setdefault("pin_memory", True)
    if data.heldout is not None:
        brain.heldout_loader = sb.dataio.dataloader.make_dataloader(data.heldout, **loader_options[1])
        sb.utils.distributed.run_on_main(
            lambda: print(
                f"model selection by EER on {len(data.heldout)} utterances of {hparams['valid_speakers']} "
                f"held-out speakers ({data.heldout_csv}), all pairs scored after every epoch"
            )
        )
    return loader_options


def train(argv) -> str:
    """Run ``recipes/train.py`` with this command line (hparams file, then overrides and run
    options, as for any SpeechBrain recipe), in this process; returns the output folder.
    Errors the user can fix end the run with ``SystemExit("error: ...")``."""
    bound_onednn_cache()  # random crop lengths: one cached oneDNN primitive per shape grows memory
    hparams_file, run_opts, overrides, hparams = load_hparams(argv)
    _refuse_bad_start(hparams_file, run_opts, hparams)
    sb.utils.distributed.ddp_init_group(run_opts)
    try:
        return _train_in_process_group(hparams_file, run_opts, overrides, hparams)
    finally:
        leave_process_group()


def leave_process_group() -> None:
    """Destroy the ``torch.distributed`` process group, if this process joined one, as
    PyTorch asks of every rank at the end (NCCL warns otherwise). It does not stop its gloo
    worker threads while DistributedDataParallel's reducer still refers to the group; see
    ``custom_modules.training.worker_exit`` for how a worker then ends. Without a group (one
    process) this does nothing.

    Example
    -------
    >>> leave_process_group()
    >>> dist.is_initialized()
    False
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _train_in_process_group(hparams_file: str, run_opts: dict, overrides, hparams: dict) -> str:
    create_experiment_directory(hparams["output_folder"], hparams_file, overrides, calling_file=__file__)
    data = _speaker_data(hparams_file, hparams)
    _set_steps_per_epoch(hparams, data)
    latest = _checkpoint_to_resume(hparams_file, hparams)
    brain = SpeakerBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    if hparams.get("init_from"):
        initialise_encoder(brain, hparams["init_from"], resumed=latest is not None, init_head=hparams.get("init_head"))
    _install_kill_hook(brain, hparams["checkpointer"])
    save_files_atomically(hparams["checkpointer"])  # every checkpoint file whole or absent (after the hook)
    train_options, valid_options = _loader_options(brain, hparams, data)
    brain.fit(
        brain.hparams.epoch_counter,
        data.train,
        data.valid,
        train_loader_kwargs=train_options,
        valid_loader_kwargs=valid_options,
    )
    sb.utils.distributed.run_on_main(
        lambda: print(f"outputs in {hparams['output_folder']} (train_log.txt, metrics.jsonl, save/)")
    )
    return hparams["output_folder"]
