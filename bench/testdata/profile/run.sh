#!/bin/bash
# run.sh healthy|reorder|sample0: a 10 s CPU profile of tandem proxy at
# saturation (wrk, 64 connections) with a candidate that answers legacy's
# bytes (healthy) or the same JSON with every object's members in another
# order (reorder), or with --sample 0 (nothing mirrored: the client path
# alone); prints the CPU shares of BENCHMARKS.md's tables. Needs wrk, curl
# and a tandem binary (TANDEM, default ./tandem), from the repository root.
set -eu
mode=${1:-healthy}
TANDEM=${TANDEM:-./tandem}
dir=$(mktemp -d)
go build -o "$dir/backends" ./bench/testdata/profile
extra=()
[ "$mode" = sample0 ] && extra=(--sample 0)
"$dir/backends" "$mode" > "$dir/urls" & DRV=$!
until [ -s "$dir/urls" ]; do sleep 0.1; done
read -r L C < "$dir/urls"
"$TANDEM" proxy --listen 127.0.0.1:18080 --legacy "$L" --candidate "$C" --db "$dir/t.db" --admin 127.0.0.1:18081 --log-level error "${extra[@]}" & TP=$!
until curl -sf http://127.0.0.1:18081/healthz >/dev/null; do sleep 0.1; done
wrk -t2 -c64 -d16s http://127.0.0.1:18080/items/1 > "$dir/wrk" & WRK=$!
sleep 3
curl -s -o "$mode.pprof" "http://127.0.0.1:18081/debug/pprof/profile?seconds=10"
wait $WRK
kill $TP; wait $TP || true; kill $DRV
grep Requests/sec "$dir/wrk"
for cat in 'syscall\.|internal/runtime/syscall|runtime\.netpoll|epoll' 'valyala/fasthttp\.' 'tandem/upstream\.' \
	'tandem/diff\.' 'tandem/store\.' 'redact' 'tandem/mirror\.\(\*metrics\)|observe' \
	'runtime\.gcBgMarkWorker|runtime\.gcDrain|runtime\.mallocgc' 'runtime\.(schedule|findRunnable|mcall|park_m)' \
	'RemoveRequestHop|RemoveResponseHop' 'setDeadline|SetReadDeadline|SetWriteDeadline|SetDeadline' 'mirror\.\(\*Proxy\)\.forward' \
	'upstream\.alive' 'readWhole' 'time\.Now' 'mirror\.ambiguous|holdAmbiguousBody|rejectAmbiguous|headerReceived'; do
	printf '%-60s %s\n' "$cat" "$(go tool pprof -focus="$cat" -top "$mode.pprof" 2>/dev/null | grep -o '[0-9.]*% of [0-9.]*s total')"
done
rm -rf "$dir"
