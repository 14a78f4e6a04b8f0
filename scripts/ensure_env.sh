#!/usr/bin/env bash
# Create (once) or reuse the project's virtual environment, kept outside the clone under
# ~/.cache/res2net-sv/<hash of requirements.txt>/, and print the path of its Python.
# Everything the project needs is installed from requirements.txt; nothing is done by hand.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/requirements.txt"
hash=$(sha256sum "$req" | cut -c1-12)
venv="${RES2NET_SV_VENV:-$HOME/.cache/res2net-sv/$hash}"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "[env] building $venv from requirements.txt (about 2 minutes, 5.8 GB)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -r "$req" >&2
  "$venv/bin/python" -c "import torch, torchaudio, speechbrain, soundfile" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
