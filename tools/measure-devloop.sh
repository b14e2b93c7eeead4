#!/usr/bin/env bash
# Measures the development loop that docs/development.md reports: under air, how
# long from saving a template, a CSS file or a .go file until the change is visible,
# and whether the logged-in session survives the restart a .go edit causes.
# It edits views/pages/home.html, public/css/app.css and app/main.go, and puts them
# back (from copies) when it ends, however it ends.
#
#   tools/measure-devloop.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-3917}"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fiberauth-devloop.XXXXXX")"
FILES=(views/pages/home.html public/css/app.css app/main.go)
AIR_PID=""
for f in "${FILES[@]}"; do mkdir -p "$WORK/orig/$(dirname "$f")"; cp -p "$f" "$WORK/orig/$f"; done

cleanup() {
  local rc=$?
  for f in "${FILES[@]}"; do cp -p "$WORK/orig/$f" "$f"; done
  if [ -n "$AIR_PID" ]; then
    kill -INT "$AIR_PID" 2>/dev/null || true # air stops the app with SIGINT (send_interrupt)
    for _ in $(seq 100); do kill -0 "$AIR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$AIR_PID" 2>/dev/null || true
  fi
  [ "$rc" -ne 0 ] && tail -n 20 "$WORK/air.log"
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# wait_for CMD...: run CMD every 20 ms until it succeeds (at most 120 s); print the ms it took.
wait_for() {
  local start; start=$(now_ms)
  until "$@" >/dev/null 2>&1; do
    [ $(( $(now_ms) - start )) -gt 120000 ] && { echo "timed out: $*" >&2; return 1; }
    sleep 0.02
  done
  echo $(( $(now_ms) - start ))
}

export APP_ENV=development ADDR="127.0.0.1:$PORT" BCRYPT_COST=4 LOG_LEVEL=info
go tool -modfile=tools/go.mod air >"$WORK/air.log" 2>&1 &
AIR_PID=$!
echo "first build and start: $(wait_for curl -fsS "$BASE/healthz") ms"

cookie=$(curl -fsS -o /dev/null -D - -H 'Content-Type: application/json' \
  -d '{"username":"john","password":"secret123"}' "$BASE/login" | sed -n 's/^[Ss]et-[Cc]ookie: \(session_id=[^;]*\).*/\1/p')
[ -n "$cookie" ] || { echo "login failed" >&2; exit 1; }
whoami_ok() { curl -fsS -H "Cookie: $cookie" -H 'Accept: application/json' "$BASE/whoami" | grep -q '"john"'; }
whoami_ok
restarts() { grep -c 'msg=listening' "$WORK/air.log" || true; }
before=$(restarts)

marker="devloop-$$-$RANDOM"
printf '<p hidden>%s</p>\n' "$marker" >>views/pages/home.html
echo "template edit -> visible: $(wait_for bash -c "curl -fsS '$BASE/' | grep -q '$marker'") ms"

css_url() { curl -fsS "$BASE/" | grep -o '/static/[0-9a-f]*/css/app.css' | head -n1; }
old_css=$(css_url)
printf '/* %s */\n' "$marker" >>public/css/app.css
ms=$(wait_for bash -c "[ \"\$(curl -fsS '$BASE/' | grep -o '/static/[0-9a-f]*/css/app.css' | head -n1)\" != '$old_css' ]")
new_css=$(css_url)
curl -fsS "$BASE$new_css" | grep -q "$marker"
echo "CSS edit -> new URL in the page, serving the edit: $ms ms"
sleep 1 # air's debounce: had it been watching css or html, it would restart now
echo "restarts caused by the template and CSS edits: $(( $(restarts) - before ))"

printf '\n// %s\n' "$marker" >>app/main.go
ms=$(wait_for bash -c "[ \$(grep -c 'msg=listening' '$WORK/air.log') -gt $before ]")
ms2=$(wait_for curl -fsS "$BASE/healthz")
echo ".go edit -> rebuilt and serving again: $(( ms + ms2 )) ms"
if whoami_ok; then echo "session after the restart: still logged in"; else echo "session after the restart: LOGGED OUT"; exit 1; fi
