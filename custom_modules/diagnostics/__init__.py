"""Diagnostics: checks that explain degenerate training metrics ("why is my accuracy only 0% or 100%?").

Each check is a plain function that returns a :class:`~custom_modules.diagnostics.verdicts.Verdict`
``(name, status, reason, fix)`` with ``status`` in ``PASS``/``WARN``/``FAIL`` and a one-line
reason that names the numbers involved. The modules:

- :mod:`~custom_modules.diagnostics.verdicts`: the verdict, its statuses, and printing
  (:func:`format_table`, :func:`format_verdict`, :func:`exit_code`).
- :mod:`~custom_modules.diagnostics.config_checks`: the config and data checks, pure enough for
  exact tests.
- :mod:`~custom_modules.diagnostics.preflight`: :func:`preflight` (hparams only) reads the CSVs
  itself and runs the config and data checks (:func:`run_config_checks`); no model is run.
  Cheap: meant for the start of ``recipes/train.py``.
- :mod:`~custom_modules.diagnostics.probe`: :func:`probe_training` + :func:`probe_checks`: a few
  real optimizer steps of the hparams' own modules on one fixed batch of training audio, then
  the loss trend, NaN/Inf, accuracy counted on margin-free vs margin-penalised logits, and
  embedding collapse.
- :mod:`~custom_modules.diagnostics.overfitting`: after evaluation,
  :func:`check_speaker_overfitting` (the evaluated epoch's accuracies from
  :func:`read_training_figures`, the EER and the no-learning floor's EER on the same trials)
  runs at the end of ``recipes/eval.py`` and in ``recipes/diagnose.py --evaluated``.
- :mod:`~custom_modules.diagnostics.floor_check`: a trained system worse than the no-learning floor.

``recipes/diagnose.py`` is the command line; :mod:`custom_modules.data.audio_check` gives the
``audio`` verdict.

What is checked, and the rule behind each status:

=====================  ==========================================================================
batch size             batch 1: any per-batch accuracy is 0 or 100 (WARN; FAIL if the head gives
                       no counts, so the epoch figure cannot be correct / samples); last batch of 1
crop                   crop_seconds missing or <= 0 (FAIL); most utterances shorter than the crop
                       (WARN: they are repeat-padded)
classes                num_classes vs speakers in the training CSV; label indices out of range or
                       not contiguous (label_encoder.txt)
scale/margin           s below ``minimum_scale(C, 0.99, m)`` (WARN); margin that no scale can
                       overcome (FAIL); saturation: s*m >= 20 without a margin warm-up (WARN)
speakers               < 2 speakers (FAIL), < 10 (WARN: chance level is high, 100% is easy);
                       speakers with a single utterance (WARN)
validation             validation speakers absent from training (FAIL: closed-set accuracy is
                       meaningless there, use EER on trials)
test leak              test speakers that are also training speakers (FAIL)
learning rate          lr outside the optimiser's sane range (Adam family 1e-5..1e-2, SGD 1e-4..1)
margin accuracy        (probe) accuracy from argmax(cos) vs argmax(margin logits) vs the head's
                       own count
probe loss             (probe) NaN/Inf (FAIL); loss on a fixed batch not down by 1% (WARN)
embeddings             (probe) mean cosine between different speakers >= 0.999 (WARN: collapsed)
speaker overfitting    (after training and evaluation) closed-set accuracy > 90% while the EER
                       on the trials is within 2 points of the no-learning floor's, or worse
                       (WARN, with the remedies)
=====================  ==========================================================================

Authors: the res2net-sv developers.
"""
