#!/usr/bin/env bash
# Create (once) or reuse the project's Python environment and print the path of its Python.
#
# Two layers, so that one 5.8 GB set of packages serves every clone on the machine while each
# clone imports its own code:
#   1. ~/.cache/res2net-sv/<hash of requirements.txt>/: every package of requirements.txt
#      (built once, about 2 minutes; RES2NET_SV_VENV overrides the place).
#   2. <clone>/.venv: a light environment (no packages of its own) that sees layer 1 through a
#      .pth file and holds this clone's editable install (`pip install -e .`, pyproject.toml),
#      so recipes, tests and SpeechBrain's from_hparams import custom_modules from this clone.
# Everything is installed from requirements.txt and pyproject.toml; nothing is done by hand.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/requirements.txt"
hash=$(sha256sum "$req" | cut -c1-12)
base="${RES2NET_SV_VENV:-$HOME/.cache/res2net-sv/$hash}"
if [ ! -x "$base/bin/python" ] || [ ! -f "$base/.complete" ]; then
  echo "[env] building $base from requirements.txt (about 2 minutes, 5.8 GB)" >&2
  rm -rf "$base"
  python3 -m venv "$base"
  "$base/bin/python" -m pip install --quiet --upgrade pip >&2
  "$base/bin/python" -m pip install --quiet -r "$req" >&2
  "$base/bin/python" -c "import torch, torchaudio, speechbrain, soundfile, onnxruntime" >&2
  touch "$base/.complete"
fi

local_venv="$root/.venv"
stamp="$local_venv/.res2net-sv"
want="$base $(sha256sum "$root/pyproject.toml" | cut -c1-12) $root"
if [ ! -x "$local_venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if [ -e "$local_venv" ] && [ ! -f "$stamp" ]; then
    echo "error: $local_venv exists and was not made by scripts/ensure_env.sh; move it away (it is left as it is)" >&2
    exit 2
  fi
  echo "[env] installing this clone into $local_venv (editable, a few seconds)" >&2
  rm -rf "$local_venv"
  python3 -m venv --without-pip "$local_venv"
  purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])'
  site=$("$local_venv/bin/python" -c "$purelib")
  base_site=$("$base/bin/python" -c "$purelib")
  echo "import site; site.addsitedir('$base_site')" > "$site/_res2net_sv_base.pth"
  "$local_venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation --no-index -e "$root" \
      > "$local_venv/install.log" 2>&1 || { cat "$local_venv/install.log" >&2; exit 1; }
  (cd / && "$local_venv/bin/python" -c "import custom_modules, speechbrain") >&2
  echo "$want" > "$stamp"
fi
echo "$local_venv/bin/python"
