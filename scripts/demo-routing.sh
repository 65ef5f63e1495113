# Part of scripts/demo.sh (sourced): tutorial 4, Routing.
# One receiver saves warnings and errors, another shows every severity; an error reaches both, an info
# only the second.
echo
echo "=== Routing  (routing/)"
log1="$bin/receive_logs_direct1.log"
log2="$bin/receive_logs_direct2.log"
start receive_logs_direct "$log1" warning error
r1=${pids[-1]}
start receive_logs_direct "$log2" info warning error
r2=${pids[-1]}
wait_line "$log1" "Waiting for logs"
wait_line "$log2" "Waiting for logs"
echo '--- terminal 3: go run ./routing/emit_log_direct error "Run. Run. Or it will explode."   (then an info)'
"$bin/emit_log_direct" error "Run. Run. Or it will explode." 2>&1 | sed 's/^/    /'
"$bin/emit_log_direct" info "All systems nominal." 2>&1 | sed 's/^/    /'
wait_line "$log1" "error:Run. Run. Or it will explode."
wait_line "$log2" "info:All systems nominal."
stop "$r1"
stop "$r2"
show "terminal 1: go run ./routing/receive_logs_direct warning error   (stopped with Ctrl+C)" "$log1"
show "terminal 2: go run ./routing/receive_logs_direct info warning error   (stopped with Ctrl+C)" "$log2"
