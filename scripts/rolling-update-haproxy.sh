#!/usr/bin/env bash
# The runbook's "Rolling update (zero-downtime)" with HAProxy as the draining load balancer: HAProxy's
# runtime API stands for `curl -X POST http://lb/admin/drain|enable/<node>`. tests/api/rolling.rs runs
# the same steps against three local nodes while clients post and listen.
#
#   scripts/rolling-update-haproxy.sh <haproxy admin socket> <backend> <restart command> node=url ...
#   e.g. scripts/rolling-update-haproxy.sh /run/haproxy/admin.sock be 'systemctl restart rustchat@%s' \
#          node1=http://node1:3000 node2=http://node2:3000 node3=http://node3:3000
# The restart command gets the node name for %s. DRAIN_SECONDS (default 30) is the runbook's sleep.
set -euo pipefail
socket=$1 backend=$2 restart=$3
shift 3
drain=${DRAIN_SECONDS:-30}
lb() { echo "$1" | socat stdio "unix-connect:$socket"; }

# 1. Verify health of existing nodes.
for pair in "$@"; do
  url=${pair#*=}
  curl -sf "$url/api/v1/health/ready" >/dev/null || { echo "${pair%%=*} is not ready"; exit 1; }
done
# 2. Update nodes one at a time.
for pair in "$@"; do
  node=${pair%%=*} url=${pair#*=}
  echo "Updating ${node}..."
  lb "set server $backend/$node state drain"
  sleep "$drain"
  # shellcheck disable=SC2059
  bash -c "$(printf "$restart" "$node")"
  until curl -sf "$url/api/v1/health/ready" >/dev/null; do sleep 5; done
  lb "set server $backend/$node state ready"
done
