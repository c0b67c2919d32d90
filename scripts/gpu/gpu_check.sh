#!/usr/bin/env bash
# Every GPU figure of bomerge in one command (see scripts/gpu/gpu_check.py).
#
#   scripts/gpu/gpu_check.sh --prepare                 # here, once: fills gpu-check/ (wheels, rows, tokenizer)
#   scripts/gpu/gpu_check.sh [--device cuda|cpu] [--steps merge eval trial tests]
#
# On a machine that lacks bomerge's Python packages (a bare GPU machine), the wheels in
# gpu-check/wheels are installed into a scratch folder first; nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repository root: gpu-check/ and configs/ are read from there
PYTHON=${PYTHON:-python3}
if [[ "${1:-}" == "--prepare" ]]; then
    shift
    exec "$PYTHON" scripts/gpu/gpu_check_prepare.py "$@"
fi
if ! "$PYTHON" -c "import ax, pydantic, sqlalchemy, plotly" 2>/dev/null; then
    if ! compgen -G "gpu-check/wheels/*.whl" >/dev/null; then
        echo "gpu_check: bomerge's packages are missing and gpu-check/wheels is empty:" \
             "run scripts/gpu/gpu_check.sh --prepare on a machine with a package index" >&2
        exit 2
    fi
    SITE=${TMPDIR:-/tmp}/bomerge-gpu-check-site
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" gpu-check/wheels/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
# bomerge from the checkout (a bare machine has it not installed); gpu_check.py puts
# scripts/bench on sys.path itself for the benchmark modules it imports
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PYTHON" scripts/gpu/gpu_check.py "$@"
