#!/bin/sh
# Turns on etcd authentication for session-manager, idempotently (the chart's etcd-auth Job runs it
# after every install and upgrade; test/integration/etcd-auth.test.ts runs it against a real etcd).
#
# Needs etcdctl (v3) and, in the environment:
#   ETCDCTL_ENDPOINTS, ETCDCTL_CACERT  the members (https) and the CA that signed them
#   ETCDCTL_CERT, ETCDCTL_KEY          a client certificate with CN=root: once auth is on, etcd
#                                      takes the CN of a verified client certificate as the user
#   ROOT_PASSWORD                      password of the root user (for operators' etcdctl --user root)
#   SM_USER                            the user session-manager connects as (the CN of its certificate)
#   SM_PREFIX                          the key prefix session-manager owns, e.g. /session-manager/
# session-manager gets a role with read/write on SM_PREFIX only, nothing else.
set -eu
: "${ETCDCTL_ENDPOINTS:?}" "${ROOT_PASSWORD:?}" "${SM_USER:?}" "${SM_PREFIX:?}"
export ETCDCTL_API=3
ctl() { etcdctl --dial-timeout=5s --command-timeout=10s "$@"; }

i=0
until ctl endpoint health >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -ge 120 ] && { echo "etcd not healthy after 240 s" >&2; exit 1; }
  sleep 2
done

if ! ctl user get root >/dev/null 2>&1; then
  printf '%s\n' "$ROOT_PASSWORD" | ctl user add root --interactive=false
  echo "created user root"
fi
ctl user grant-role root root >/dev/null 2>&1 || true
ctl role get "$SM_USER" >/dev/null 2>&1 || { ctl role add "$SM_USER" >/dev/null; echo "created role $SM_USER"; }
ctl role grant-permission "$SM_USER" --prefix=true readwrite "$SM_PREFIX" >/dev/null
if ! ctl user get "$SM_USER" >/dev/null 2>&1; then
  # Certificate-only user (etcd >= 3.5); older etcdctl: a random password nobody knows.
  ctl user add "$SM_USER" --no-password >/dev/null 2>&1 ||
    ctl user add "$SM_USER:$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >/dev/null
  echo "created user $SM_USER"
fi
ctl user grant-role "$SM_USER" "$SM_USER" >/dev/null
if ctl auth status 2>/dev/null | grep -q 'Authentication Status: true'; then
  echo "auth already enabled"
else
  ctl auth enable
fi
echo "etcd auth ready: user $SM_USER may read and write $SM_PREFIX only"
