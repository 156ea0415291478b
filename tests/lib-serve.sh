# Starting `wangge serve` from the test scripts (sourced, not run):
#
#   . tests/lib-serve.sh
#   trap wangge_stop_all EXIT
#   wangge_spawn LOG PORT [serve arguments...]   # starts it in the background
#   ...                                          # other work while it loads
#   wangge_wait_up                               # sets WANGGE_URL, WANGGE_PID
#
# or `wangge_serve LOG PORT [arguments...]` for both at once. The server is
# bound to 127.0.0.1 (do not pass --bind). PORT 0 lets the server pick a free
# port; the address is read from its `wangge serving ... at
# http://127.0.0.1:PORT/` line. wangge_wait_up waits (WANGGE_START_SECONDS,
# default 120, per attempt) until GET /health answers; if the process died or
# never answered, it prints the server's log, stops it and starts it once more,
# and returns 1 if that fails too. Every process started is in WANGGE_PIDS
# (wangge_stop_all ends them). Uses WANGGE_BIN (default target/release/wangge).

WANGGE_PIDS=()

_wangge_launch() {
  WANGGE_LOG_FROM=$(( $(wc -l <"$WANGGE_LOG" 2>/dev/null || echo 0) + 1 ))
  "${WANGGE_BIN:-target/release/wangge}" serve "${WANGGE_ARGS[@]}" --bind 127.0.0.1 --port "$WANGGE_PORT" \
    >>"$WANGGE_LOG" 2>&1 &
  WANGGE_PID=$!
  WANGGE_PIDS+=("$WANGGE_PID")
  WANGGE_URL=""
}

_wangge_end() { # pid: SIGTERM, SIGKILL if it still runs after 15 s, then reaped
  local i
  kill "$1" 2>/dev/null || true
  for i in $(seq 1 75); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.2
  done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

wangge_spawn() { # log port [serve arguments...]
  WANGGE_LOG=$1 WANGGE_PORT=$2
  shift 2
  WANGGE_ARGS=("$@")
  : >"$WANGGE_LOG"
  _wangge_launch
}

wangge_wait_up() {
  local attempt deadline
  for attempt in 1 2; do
    # By the clock, not by a count of tries: each try may wait 5 s for curl.
    deadline=$(( SECONDS + ${WANGGE_START_SECONDS:-120} ))
    while [ "$SECONDS" -lt "$deadline" ]; do
      kill -0 "$WANGGE_PID" 2>/dev/null || break
      if [ -z "$WANGGE_URL" ]; then
        WANGGE_URL=$(tail -n "+$WANGGE_LOG_FROM" "$WANGGE_LOG" | grep -o -m1 'serving .* at http://127\.0\.0\.1:[0-9]*' |
          grep -o 'http://.*' || true)
      fi
      if [ -n "$WANGGE_URL" ] && curl -sf -m 5 "$WANGGE_URL/health" >/dev/null 2>&1; then
        return 0
      fi
      sleep 0.2
    done
    if kill -0 "$WANGGE_PID" 2>/dev/null; then
      echo "wangge serve ${WANGGE_ARGS[*]} --port $WANGGE_PORT: /health did not answer within ${WANGGE_START_SECONDS:-120} s (attempt $attempt of 2); its log ($WANGGE_LOG):" >&2
    else
      echo "wangge serve ${WANGGE_ARGS[*]} --port $WANGGE_PORT exited before answering /health (attempt $attempt of 2); its log ($WANGGE_LOG):" >&2
    fi
    tail -n "+$WANGGE_LOG_FROM" "$WANGGE_LOG" | tail -n 100 >&2
    _wangge_end "$WANGGE_PID"
    if [ "$attempt" -eq 1 ]; then
      echo "starting it once more" >&2
      sleep 1
      _wangge_launch
    fi
  done
  return 1
}

wangge_serve() { # log port [serve arguments...]
  wangge_spawn "$@"
  wangge_wait_up
}

wangge_stop_all() {
  local p
  for p in "${WANGGE_PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
}
