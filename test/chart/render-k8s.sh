#!/usr/bin/env bash
# Regenerates k8s/etcd.yaml and k8s/session-manager.yaml from the chart with default values
# (release "session-manager", namespace "session-manager"). k8s/README.md is kept by hand.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"
HELM="$(bash test/chart/install-helm.sh)"
export HELM
node test/chart/k8s-render.mjs --write
