#!/usr/bin/env bash
# Run diffusers' own common pipeline tests (PipelineTesterMixin) against DSDNPipeline, on the CPU.
#   bash scripts/diffusers_conformance/run.sh DIFFUSERS_CHECKOUT
# DIFFUSERS_CHECKOUT: a clone of diffusers' source repository (its tests/ folder is used; it is not installed). The
# tests need two more packages: pip install parameterized requests_mock. Tests that need an accelerator are skipped.
set -euo pipefail
SRC=${1:?give the path of a diffusers checkout}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC/tests" "$WORK/tests"
mkdir -p "$WORK/tests/pipelines/dsdn"
touch "$WORK/tests/pipelines/dsdn/__init__.py"
cp "$HERE/test_dsdn.py" "$WORK/tests/pipelines/dsdn/test_dsdn.py"
cd "$WORK"
HF_HUB_OFFLINE=1 python -m pytest -q -p no:cacheprovider -rs tests/pipelines/dsdn/test_dsdn.py "${@:2}"
