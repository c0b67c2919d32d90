#!/usr/bin/env bash
# Kept at the old path on purpose: the project rule "if a device is lent and
# scripts/gpu_check.sh exists, run it" names this file. The check itself lives in
# scripts/gpu/gpu_check.sh; this wrapper only hands it every argument unchanged
# (--prepare, --device, --steps ...). gpu-check/ stays at the repository root.
exec bash "$(dirname "$0")/gpu/gpu_check.sh" "$@"
