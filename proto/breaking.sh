#!/usr/bin/env bash
# `make breaking`: buf breaking (proto/buf.yaml, FILE rules) of proto/ against
#  1. proto/baseline.binpb, the committed image of the last accepted API (always there, also in a
#     shallow clone); refresh it deliberately with `make proto-baseline`, and
#  2. the previous commit's proto/ (HEAD~1: on main, the API before the change being tested), when
#     git has it. A shallow clone is deepened by one commit if it can be; if it cannot, step 2 is
#     skipped with a note (step 1 still guards the API).
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=node_modules/.bin/buf
echo "buf breaking: proto/ against proto/baseline.binpb"
"$BUF" breaking proto --against proto/baseline.binpb
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "buf breaking: not a git checkout; compared against the baseline only"
  exit 0
fi
if ! git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null 2>&1 && [ "$(git rev-parse --is-shallow-repository)" = true ]; then
  git fetch -q --deepen=1 >/dev/null 2>&1 || true
fi
if ! git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null 2>&1; then
  echo "buf breaking: HEAD~1 is not available (first commit or shallow clone); compared against the baseline only"
  exit 0
fi
if ! git cat-file -e 'HEAD~1:proto/buf.yaml' 2>/dev/null; then
  echo "buf breaking: HEAD~1 has no proto/ module; compared against the baseline only"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive HEAD~1 proto | tar -x -C "$tmp"
echo "buf breaking: proto/ against HEAD~1 ($(git rev-parse --short HEAD~1))"
"$BUF" breaking proto --against "$tmp/proto"
