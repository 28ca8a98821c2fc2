#!/usr/bin/env bash
# Chart checks (make test-chart): helm lint --strict and helm template for the default values and
# every helm/session-manager/ci/*.yaml, then test/chart/validate.mjs (kubernetes-models
# validation, assertions on the rendered objects, rejected renders, k8s/ in sync).
# Prints "N passed, M failed" last; exits non-zero on any failure. No network.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"
chart="helm/session-manager"

if ! HELM="$(bash test/chart/install-helm.sh)"; then
  echo "cannot install helm"
  echo "0 passed, 1 failed"
  exit 1
fi
export HELM
echo "helm: $("${HELM}" version --short)"

render_dir="$(mktemp -d)"
trap 'rm -rf "${render_dir}"' EXIT
passed=0
failed=0

step() { # step NAME COMMAND...: runs a command, counts it, shows its output only on failure
  local name="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then
    passed=$((passed + 1)); echo "ok   ${name}"
  else
    failed=$((failed + 1)); echo "FAIL ${name}"; printf '%s\n' "${out}" | sed 's/^/       /'
  fi
}

render() { # render CASE [VALUES_FILE]
  local case_name="$1" values=()
  [[ $# -gt 1 ]] && values=(-f "$2")
  "${HELM}" template demo "${chart}" --namespace demo-ns "${values[@]}" >"${render_dir}/${case_name}.yaml"
}

step "helm lint --strict (default values)" "${HELM}" lint --strict "${chart}"
step "helm template (default values)" render default
for f in "${chart}"/ci/*.yaml; do
  name="$(basename "${f}" .yaml)"
  step "helm lint --strict (ci/${name}.yaml)" "${HELM}" lint --strict "${chart}" -f "${f}"
  step "helm template (ci/${name}.yaml)" render "${name}" "${f}"
done

node test/chart/validate.mjs --render-dir "${render_dir}" --prior-passed "${passed}" --prior-failed "${failed}"
