#!/usr/bin/env bash
# Proves the deployment through a real balancer (deploy/loadcheck says what): HAProxy
# in front of two instances, brought up by run-local.sh, which stops everything it
# started when the check ends, passed or not. About 30 s. Run by .ci/run after the
# Go tests; runnable by hand the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /dev/null ./deploy/loadcheck # compile errors before the stack is up
exec timeout --signal=TERM --kill-after=10 120 deploy/run-local.sh go run ./deploy/loadcheck
