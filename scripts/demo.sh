#!/usr/bin/env bash
# demo.sh: run every tutorial end to end against the broker at AMQP_URL, as a reader would in several
# terminals, and show what each program prints. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$bin"
}
trap cleanup EXIT

echo "building the programs..."
# go build -o DIR/ writes one binary per main package, named after its folder (send, receive, ...). The
# tutorials that reuse a name of the classic series (streams/send, retries/worker, ...) build their own
# into a folder of their own.
go build -o "$bin/" $(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./... | grep -v -e /streams/ -e /retries/)

# start NAME LOG ARGS...: run a program in the background, its output (stdout and stderr) in LOG.
start() {
	local name=$1 log=$2
	shift 2
	"$bin/$name" "$@" >"$log" 2>&1 &
	pids+=($!)
}

# wait_line LOG TEXT: wait (up to 30s) until the log has a line containing TEXT.
wait_line() {
	local log=$1 text=$2
	for _ in $(seq 300); do
		grep -qF -- "$text" "$log" && return 0
		sleep 0.1
	done
	echo "demo: timed out waiting for '$text' in $log:" >&2
	cat "$log" >&2
	return 1
}

# stop PID: Ctrl+C a background program and require a clean exit.
stop() {
	kill -INT "$1"
	wait "$1"
}

# show TITLE LOG: print a program's output under a heading, indented like a terminal.
show() {
	echo "--- $1"
	sed 's/^/    /' "$2"
}

# Each tutorial's part of the demo is in scripts/demo-<tutorial>.sh, run in the tutorials' order.
for part in hello-world work-queues publish-subscribe routing topics rpc publisher-confirms streams retries; do
	# shellcheck source=/dev/null
	[[ -f scripts/demo-$part.sh ]] && source "scripts/demo-$part.sh"
done
echo
echo "demo: all tutorials ran"
