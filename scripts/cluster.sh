#!/usr/bin/env bash
# cluster.sh: a local 3-node RabbitMQ 4.3 cluster for the Reliability tutorial (behind `make cluster`).
#
#   scripts/cluster.sh start        start nodes 1-3 and join them in a cluster; print the AMQP_URL to use
#   scripts/cluster.sh stop         stop every node of the cluster
#   scripts/cluster.sh status       say which nodes run
#   scripts/cluster.sh kill N       kill -9 node N (1-3): a crash, nothing is flushed or said goodbye
#   scripts/cluster.sh stop-node N  stop node N cleanly
#   scripts/cluster.sh start-node N start node N again: it rejoins the cluster by itself
#   scripts/cluster.sh ctl N ARGS   rabbitmqctl ARGS against node N
#
# The nodes run Debian forky's rabbitmq-server 4.3 from the same root as `make broker`'s 4.3 node
# (.broker/forky-root, made and mounted by scripts/broker.sh), with RabbitMQ's own defaults, on
# 127.0.0.1 ports 5700-5702 (AMQP; CLUSTER_PORT moves the first) with their data under the root's
# /var/lib/tutorials-cluster/. They share one Erlang cookie, which is what lets them talk to each other.
# RabbitMQ 4.3 keeps its metadata (queues, exchanges, bindings, users, policies) in Khepri, a Raft
# cluster of the three nodes: declaring anything needs a majority, two nodes of three.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
root=$repo/.broker/forky-root
base=/var/lib/tutorials-cluster
first_port=${CLUSTER_PORT:-5700}
nodes=(1 2 3)

say() { printf 'cluster: %s\n' "$*" >&2; }

port_of() { echo $((first_port + $1 - 1)); }
name_of() { echo "tutorials-c$1@localhost"; }
url() {
	local urls=() n
	for n in "${nodes[@]}"; do urls+=("amqp://guest:guest@localhost:$(port_of "$n")/"); done
	(
		IFS=,
		echo "${urls[*]}"
	)
}

# env_of N: the environment of node N's server and of the rabbitmqctl that talks to it.
env_of() {
	local n=$1 d="$base/c$1"
	local port
	port=$(port_of "$n")
	echo PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
		HOME="$d" RABBITMQ_NODENAME="$(name_of "$n")" RABBITMQ_NODE_PORT="$port" \
		RABBITMQ_DIST_PORT=$((port + 20000)) ERL_EPMD_PORT=4372 \
		RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/rabbit.pid" \
		RABBITMQ_CONFIG_FILE="$d/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
		ERL_CRASH_DUMP_SECONDS=0
}

in_root() {
	local n=$1
	shift
	# shellcheck disable=SC2046 # env_of prints words on purpose
	chroot "$root" /usr/bin/env -i $(env_of "$n") "$@"
}

ctl() {
	local n=$1
	shift
	in_root "$n" /usr/lib/rabbitmq/bin/rabbitmqctl "$@"
}

# ensure_root: the forky root made (once) and mounted by scripts/broker.sh, which also unmounts it
# when no node runs from it any more (release-root).
ensure_root() {
	RABBITMQ_SERIES=4.3 "$here/broker.sh" mount-root
}

pid_of() {
	local f="$root$base/c$1/rabbit.pid"
	[[ -f $f ]] && cat "$f"
}

running() {
	local pid
	pid=$(pid_of "$1") || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# launch_node N: start node N's server in the background (it waits for nothing).
launch_node() {
	local n=$1 d="$root$base/c$1"
	local port
	port=$(port_of "$n")
	mkdir -p "$d/mnesia" "$d/log"
	{
		echo "listeners.tcp.1 = 127.0.0.1:$port"
		echo "loopback_users.guest = true"
	} >"$d/rabbitmq.conf"
	echo '[].' >"$d/enabled_plugins"
	# One cookie for the three nodes: Erlang nodes only talk to nodes that share theirs.
	cp "$root$base/cookie" "$d/.erlang.cookie"
	chmod 400 "$d/.erlang.cookie"
	rm -f "$d/rabbit.pid"
	# shellcheck disable=SC2046
	setsid nohup chroot "$root" /usr/bin/env -i $(env_of "$n") /usr/lib/rabbitmq/bin/rabbitmq-server >"$d/log/startup.log" 2>&1 </dev/null &
}

# start_nodes N...: start the nodes that do not run, all at once, and wait until each has booted. All at
# once matters: a node of a cluster that was stopped waits, as it boots, for a majority of the cluster's
# nodes (Khepri's Raft) before it serves anything.
start_nodes() {
	local n todo=() t0=$SECONDS
	for n in "$@"; do running "$n" || todo+=("$n"); done
	((${#todo[@]})) || return 0
	ensure_root
	for n in "${todo[@]}"; do launch_node "$n"; done
	for n in "${todo[@]}"; do
		ctl "$n" -q wait "$base/c$n/rabbit.pid" --timeout 180 >/dev/null 2>&1 && continue
		say "node $n did not start; its log: $root$base/c$n/log/startup.log"
		tail -n 20 "$root$base/c$n/log/startup.log" >&2 || true
		exit 1
	done
	say "node(s) ${todo[*]} booted in $((SECONDS - t0)) s"
}

wait_down() {
	local pid=$1
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

check_node() {
	[[ $1 =~ ^[123]$ ]] || {
		say "node must be 1, 2 or 3 (got '$1')"
		exit 2
	}
}

case ${1:-start} in
start)
	ensure_root
	mkdir -p "$root$base"
	[[ -f $root$base/cookie ]] || head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$root$base/cookie"
	start_nodes "${nodes[@]}"
	# Nodes 2 and 3 join node 1. A node that is a member already (a second `start`) is left as it is.
	for n in 2 3; do
		if ! ctl 1 -q cluster_status 2>/dev/null | grep -q "$(name_of "$n")"; then
			ctl "$n" -q stop_app >/dev/null
			ctl "$n" -q join_cluster "$(name_of 1)" >/dev/null
			ctl "$n" -q start_app >/dev/null
		fi
	done
	# Poison tasks go somewhere visible: a task handed back more than 5 times is dead-lettered to the
	# queue task_queue.dead (which the consumer declares), not dropped. A policy, not queue arguments, so
	# task_queue is declared exactly as the Work Queues tutorial declares it in every language.
	ctl 1 -q set_policy --apply-to queues task-queue-dead-letters '^task_queue$' \
		'{"dead-letter-exchange":"","dead-letter-routing-key":"task_queue.dead","delivery-limit":5}' >/dev/null
	say "3 nodes running, clustered; use:"
	echo "AMQP_URL=$(url)"
	;;
stop)
	for n in "${nodes[@]}"; do
		if running "$n"; then
			pid=$(pid_of "$n")
			ctl "$n" -q shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
			wait_down "$pid" || kill -9 "$pid" 2>/dev/null || true
		fi
	done
	RABBITMQ_SERIES=4.3 "$here/broker.sh" release-root
	say "stopped"
	;;
status)
	for n in "${nodes[@]}"; do
		if running "$n"; then
			say "node $n ($(name_of "$n"), port $(port_of "$n")): running"
		else
			say "node $n ($(name_of "$n"), port $(port_of "$n")): down"
		fi
	done
	echo "AMQP_URL=$(url)"
	;;
kill)
	check_node "${2:-}"
	pid=$(pid_of "$2") || {
		say "node $2 is not running"
		exit 1
	}
	kill -9 "$pid"
	wait_down "$pid"
	say "node $2 killed (kill -9)"
	;;
stop-node)
	check_node "${2:-}"
	if running "$2"; then
		pid=$(pid_of "$2")
		ctl "$2" -q shutdown >/dev/null
		wait_down "$pid"
	fi
	say "node $2 stopped"
	;;
start-node)
	check_node "${2:-}"
	start_nodes "$2"
	say "node $2 running"
	;;
ctl)
	check_node "${2:-}"
	n=$2
	shift 2
	ctl "$n" "$@"
	;;
*)
	say "usage: $0 start|stop|status|kill N|stop-node N|start-node N|ctl N ARGS..."
	exit 2
	;;
esac
