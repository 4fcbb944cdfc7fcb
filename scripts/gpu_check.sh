#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU (under 8 minutes with the defaults):
#
#   bash scripts/gpu_check.sh [--rows N] [--out FILE.md]
#
# Writes a Criteo-shaped data set of N rows (default 10,000,000) into .bench/gpu_check/ unless it
# is there already, builds ge4rec's cache of it once (`ge4rec data prepare`), then trains DCNv2 and
# DeepFM, DIS and SFG, each in fp32, bf16 and bf16 + torch.compile, for a bounded number of steps
# and prints one table: samples/s and peak GPU memory per combination, with the GPU's name, the
# torch version and whether the training split was on the GPU. --out also writes the table as
# Markdown. Any other option is passed to scripts/gpu_check.py (see its --help), e.g. --steps 100.
# It stops at once, with exit code 2, when no CUDA device is visible.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${PYTHON:-}" ]]; then
    python="$PYTHON"
elif [[ -x "$repo/.venv/bin/python" ]]; then
    python="$repo/.venv/bin/python"
else
    python="$(command -v python3 || true)"
fi
if [[ -z "$python" ]] || ! "$python" -c "import importlib.util as u, sys; sys.exit(not (u.find_spec('ge4rec') and u.find_spec('torch')))" 2>/dev/null; then
    echo "gpu_check: no Python with ge4rec and torch (make install, or set PYTHON=/path/to/python)" >&2
    exit 2
fi

args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --rows|--out)
            if [[ $# -lt 2 ]]; then
                echo "gpu_check: $1 needs a value" >&2
                exit 2
            fi
            args+=("$1" "$2")
            shift 2
            ;;
        *)
            args+=("$1")
            shift
            ;;
    esac
done

exec "$python" "$repo/scripts/gpu_check.py" --device cuda "${args[@]}"
