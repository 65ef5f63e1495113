# Part of scripts/demo.sh (sourced): tutorial 5, Topics.
# The tutorial's example: Q1 bound with *.orange.*, Q2 with *.*.rabbit and lazy.#; a key no binding
# matches is dropped, and emit_log_topic warns on stderr.
echo
echo "=== Topics  (topics/)"
log1="$bin/receive_logs_topic1.log"
log2="$bin/receive_logs_topic2.log"
start receive_logs_topic "$log1" "*.orange.*"
r1=${pids[-1]}
start receive_logs_topic "$log2" "*.*.rabbit" "lazy.#"
r2=${pids[-1]}
wait_line "$log1" "Waiting for logs"
wait_line "$log2" "Waiting for logs"
echo '--- terminal 3: go run ./topics/emit_log_topic quick.orange.rabbit   (then lazy.pink.rabbit, quick.brown.fox)'
for key in quick.orange.rabbit lazy.pink.rabbit quick.brown.fox; do
	"$bin/emit_log_topic" "$key" 2>&1 | sed 's/^/    /'
done
wait_line "$log1" "quick.orange.rabbit:Hello World!"
wait_line "$log2" "lazy.pink.rabbit:Hello World!"
stop "$r1"
stop "$r2"
show 'terminal 1: go run ./topics/receive_logs_topic "*.orange.*"   (stopped with Ctrl+C)' "$log1"
show 'terminal 2: go run ./topics/receive_logs_topic "*.*.rabbit" "lazy.#"   (stopped with Ctrl+C)' "$log2"
