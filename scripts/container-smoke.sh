#!/bin/bash
# Smoke test of the container image: builds it (unless SKIP_BUILD=1), then checks that it runs
# as a non-root user, validates the shipped config, runs the offline demo, and that `run` keeps
# its database in the /data volume and stops cleanly on SIGTERM.
#
#   scripts/container-smoke.sh                                    # docker, builds botsvc:smoke
#   ENGINE=podman IMAGE=localhost/botsvc:test SKIP_BUILD=1 scripts/container-smoke.sh
#
# Environment: ENGINE (docker|podman), IMAGE, SKIP_BUILD=1, RUN_ARGS (extra `run` options,
# e.g. "--network host"), STOP_TIMEOUT (seconds `stop` waits before SIGKILL, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-docker}
IMAGE=${IMAGE:-botsvc:smoke}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
read -r -a EXTRA <<< "${RUN_ARGS:-}"
NAME="botsvc-smoke-$$"
VOLUME="botsvc-smoke-data-$$"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cleanup() {
  "$ENGINE" rm -f "$NAME" >/dev/null 2>&1 || true
  "$ENGINE" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step "build $IMAGE"
  "$ENGINE" build -t "$IMAGE" .
fi

step "version and user"
"$ENGINE" run --rm "${EXTRA[@]}" "$IMAGE" --version
uid=$("$ENGINE" run --rm "${EXTRA[@]}" --entrypoint id "$IMAGE" -u)
[ "$uid" != 0 ] || fail "container runs as root"
echo "uid $uid"

step "check-config (shipped /etc/botsvc/feeds.toml)"
"$ENGINE" run --rm "${EXTRA[@]}" "$IMAGE" check-config

step "demo (offline, bundled examples)"
out=$("$ENGINE" run --rm "${EXTRA[@]}" "$IMAGE" demo 2>&1) || { echo "$out"; fail "demo exited non-zero"; }
echo "$out"

step "run: database in the /data volume, clean stop on SIGTERM"
"$ENGINE" volume create "$VOLUME" >/dev/null
"$ENGINE" run -d --name "$NAME" "${EXTRA[@]}" -v "$VOLUME:/data" "$IMAGE" >/dev/null
sleep 5
[ "$("$ENGINE" inspect -f '{{.State.Running}}' "$NAME")" = true ] || {
  "$ENGINE" logs "$NAME"; fail "run exited early"; }

step "healthcheck: /healthz answers inside the container"
health=$("$ENGINE" exec "$NAME" botsvc healthcheck) || { echo "$health"; fail "healthcheck failed"; }
echo "$health"
case "$health" in *'"database": "ok"'*'"scheduler": "running"'*) ;; *) fail "unexpected /healthz: $health";; esac
metrics=$("$ENGINE" exec "$NAME" python3 -c \
  'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:3000/metrics").read().decode())')
echo "$metrics" | grep -E '^botsvc_(feeds_polled|messages_queued)' | head -n 5
echo "$metrics" | grep -q '^botsvc_messages_queued' || fail "/metrics lacks botsvc_ metrics"
started=$(date +%s)
"$ENGINE" stop -t "$STOP_TIMEOUT" "$NAME" >/dev/null
elapsed=$(( $(date +%s) - started ))
status=$("$ENGINE" inspect -f '{{.State.ExitCode}}' "$NAME")
"$ENGINE" logs "$NAME" 2>&1 | tail -n 15
echo "stopped in ${elapsed}s with status $status"
[ "$elapsed" -lt "$STOP_TIMEOUT" ] || fail "did not stop on SIGTERM within ${STOP_TIMEOUT}s"
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
"$ENGINE" run --rm "${EXTRA[@]}" -v "$VOLUME:/data" --entrypoint ls "$IMAGE" -l /data/botsvc.db

step "all smoke checks passed"
