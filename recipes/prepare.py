#!/usr/bin/env python3
"""Prepare your own speaker dataset for recipes/train.py and recipes/eval.py.

    python recipes/prepare.py --source <csv|folder|kaldi-dir|voxceleb-root> --output <dir> [options]
    python recipes/prepare.py --source ../shared/data/dev/wav --output /tmp/prep_dev
    python recipes/prepare.py --source /data/vox1 --trials /data/vox1/veri_test2.txt --output data/vox1

Writes train.csv, valid.csv (held-out utterances of the training speakers), test.csv
(speakers disjoint from training), trials.txt and data_report.md into --output, which
recipes/train.py takes as --data_folder (add --valid_annotation=<dir>/valid.csv) and
recipes/eval.py as --data_folder. Every file is read and checked first; all problems are
listed at once, grouped by kind, and nothing is written unless --drop_bad leaves the bad
utterances out. The input is only read; the output appears complete or not at all.

Exit status: 0 prepared, 1 problems in the data (listed), 2 bad command line.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import os
import sys

from custom_modules.data.preparation import FORMATS, DataError, PrepareOptions, prepare


class _Help(argparse.HelpFormatter):
    """Shows a default only where there is one to show (not None, not a False flag)."""

    def _get_help_string(self, action):
        shown = action.default not in (None, False, argparse.SUPPRESS) and "default" not in (action.help or "")
        return f"{action.help} (default: {action.default})" if shown else action.help


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip(),
        formatter_class=_Help,
        epilog="See data_report.md in the output for what was found, converted and dropped.",
    )
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--source", required=True, help="a CSV, a folder of speaker folders, a Kaldi data dir or a VoxCeleb root"
    )
    io.add_argument("--output", required=True, help="output folder (written atomically)")
    io.add_argument("--format", choices=FORMATS, default=None, help="source format (default: detected from --source)")
    io.add_argument("--speaker_column", default=None, help="CSV speaker column (default: speaker, else spk_id)")
    io.add_argument("--path_column", default=None, help="CSV audio-path column (default: path, else wav)")
    io.add_argument("--id_column", default=None, help="CSV utterance-ID column (default: ID when present)")
    io.add_argument("--split_column", default="split", help="CSV column read by --keep_splits")
    io.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --output (once the new one is complete)"
    )
    io.add_argument(
        "--copy_audio", action="store_true", help="copy all audio under <output>/audio/ (self-contained output)"
    )
    io.add_argument("--jobs", type=int, default=1, help="processes reading audio")
    sp = parser.add_argument_group("splits and trials")
    sp.add_argument(
        "--valid_fraction", type=float, default=0.1, help="held-out share of each training speaker (0: no valid.csv)"
    )
    sp.add_argument("--test_speakers", type=int, default=None, help="number of test speakers (0: no test set)")
    sp.add_argument("--test_fraction", type=float, default=None, help="share of speakers for test (default 0.2)")
    sp.add_argument(
        "--keep_splits", action="store_true", help="use the CSV's split column (train/valid/test) instead of drawing"
    )
    sp.add_argument(
        "--trials",
        default=None,
        help="a given trial list (e.g. VoxCeleb veri_test2.txt): its speakers become the test set",
    )
    sp.add_argument(
        "--trials_count", type=int, default=6000, help="trials to draw (half targets), capped by the pairs available"
    )
    sp.add_argument("--all_pairs", action="store_true", help="every pair of test utterances instead of --trials_count")
    sp.add_argument("--seed", type=int, default=1986, help="seed of every random choice")
    au = parser.add_argument_group("audio checks")
    au.add_argument("--sample_rate", type=int, default=16000, help="required sample rate")
    au.add_argument(
        "--resample", action="store_true", help="write resampled copies under <output>/audio/ instead of stopping"
    )
    au.add_argument(
        "--downmix", action="store_true", help="write mono copies of multi-channel audio instead of stopping"
    )
    au.add_argument(
        "--min_seconds",
        type=float,
        default=1.0,
        help="utterances shorter than this are counted (and dropped with --drop_short)",
    )
    au.add_argument("--drop_short", action="store_true", help="drop utterances shorter than --min_seconds")
    au.add_argument(
        "--drop_bad",
        action="store_true",
        help="leave out utterances with problems (listed in data_report.md) instead of stopping",
    )
    au.add_argument(
        "--silence_peak", type=float, default=1e-4, help="audio whose absolute peak is below this is all-silent"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = PrepareOptions(**vars(args))
    try:
        result = prepare(options, log=lambda message: print(message, file=sys.stderr))
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out = result.output
    targets = sum(t.label for t in result.trials)
    speakers = lambda rows: len({r["spk_id"] for r in rows})  # noqa: E731
    print(f"prepared {out} from {result.format} source {os.path.abspath(args.source)}")
    for name, rows in (("train", result.train), ("valid", result.valid), ("test", result.test)):
        if rows:
            print(f"  {name}.csv: {len(rows)} utterances of {speakers(rows)} speakers")
    if result.trials:
        print(
            f"  trials.txt: {len(result.trials)} trials ({targets} target, {len(result.trials) - targets} non-target)"
        )
    if result.dropped:
        print(f"  dropped {len(result.dropped)} problem entr(ies) (--drop_bad): see data_report.md")
    for note in result.notes:
        print(f"  note: {note}")
    print(f"  report: {os.path.join(out, 'data_report.md')}")
    valid = f" --valid_annotation={os.path.join(out, 'valid.csv')}" if result.valid else ""
    print(f"next: python recipes/train.py hparams/res2net_am.yaml --data_folder={out}{valid}")
    if result.trials:
        print(f"      python recipes/eval.py hparams/eval.yaml --experiment=<train output> --data_folder={out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
