#!/usr/bin/env python3
"""The README's ablation table from a scripts/run_smalldata_ablation.sh comparison.

    python scripts/ablation_table.py results/smalldata_ablation_ecapa_am_e12 > results/smalldata_ablation_ecapa_am_e12/ablation_table.md

One row per system of comparison.json: EER with its speaker-bootstrap interval, the paired
difference to row 0, the AS-norm EER and the evaluated checkpoint's epoch and training
accuracy (from each experiment's eval results.json, save/ and metrics.jsonl).
"""

from __future__ import annotations

import json
import os
import re
import sys

from custom_modules.experiment import checkpoint_epoch, default_eval_folder

CHANGES = {
    "demo": "0: demo recipe (nothing added)",
    "crops": "1: + random crops 0.6-1.0 s",
    "speed": "2: + speed classes 0.9/1.0/1.1",
    "masking": "3: + time/frequency masking",
    "noise": "4: + noise, babble, reverberation",
    "heldout": "5: + 3 held-out speakers, EER selection",
}


def row_label(name: str) -> str:
    """``ecapa_am_sd2_speed_e12`` -> its change; ``ecapa_am_demo_e12`` -> row 0."""
    match = re.search(r"_(?:sd\d+_)?(demo|crops|speed|masking|noise|heldout)_e\d+$", name)
    return CHANGES[match.group(1)] if match else name


def main(folder: str) -> None:
    with open(os.path.join(folder, "comparison.json")) as handle:
        comparison = json.load(handle)
    paired = {p["system"]: p for p in comparison["paired_differences"]}
    print("| row | EER [95%] | paired vs row 0 [95%] | EER, AS-norm | minDCF p=0.01 | checkpoint epoch | train acc |")
    print("|---|---|---|---|---|---|---|")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trials = os.path.join(root, comparison["trials"])  # comparison.json paths are relative to the project
    for system in comparison["systems"]:
        system["folder"] = os.path.join(root, system["folder"])
        evaluation = default_eval_folder(system["folder"], trials)  # keyed by the trial list
        with open(os.path.join(evaluation, "results.json")) as handle:
            results = json.load(handle)
        low, high = system["eer_interval_95"]
        p = paired.get(system["system"])
        difference = (
            (f"{100 * p['eer_difference']:+.2f} [{100 * p['interval_95'][0]:+.2f}, {100 * p['interval_95'][1]:+.2f}]")
            if p
            else "-"
        )
        as_eer = results["systems"].get("as", {}).get("eer")
        epoch = checkpoint_epoch(os.path.join(system["folder"], "save", system["checkpoint"]))
        with open(os.path.join(system["folder"], "metrics.jsonl")) as handle:
            records = [json.loads(line) for line in handle if line.strip()]
        epochs = max(r["epoch"] for r in records)
        accuracy = next(r for r in records if r["epoch"] == epoch)["train"]["acc"]
        print(
            f"| {row_label(system['name'])} | {100 * system['eer']:.2f}% [{100 * low:.2f}, {100 * high:.2f}] | "
            f"{difference} | {'%.2f%%' % (100 * as_eer) if as_eer is not None else '-'} | "
            f"{round(system['min_dcf']['0.01'], 3)} | {epoch} of {epochs} | {100 * accuracy:.1f}% |"
        )


if __name__ == "__main__":
    main(sys.argv[1])
