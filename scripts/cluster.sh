#!/usr/bin/env bash
# cluster.sh: a local 3-node RabbitMQ 4.3 cluster for the Reliability tutorial (behind `make cluster`).
#
#   scripts/cluster.sh start        start nodes 1-3 and join them in a cluster; print the AMQP_URL to use
#   scripts/cluster.sh stop         stop every node and undo everything `start` made (namespaces, links,
#                                   forwarders, host names); safe to run again, and after a failed run
#   scripts/cluster.sh status       say which nodes run and which are cut off
#   scripts/cluster.sh kill N       kill -9 node N (1-3): a crash, nothing is flushed or said goodbye
#   scripts/cluster.sh stop-node N  stop node N cleanly
#   scripts/cluster.sh start-node N start node N again: it rejoins the cluster by itself
#   scripts/cluster.sh ctl N ARGS   rabbitmqctl ARGS against node N
#   scripts/cluster.sh queues N ARGS      rabbitmq-queues ARGS against node N (quorum_status QUEUE, ...)
#   scripts/cluster.sh diagnostics N ARGS rabbitmq-diagnostics ARGS against node N
#   scripts/cluster.sh partition N  cut node N off from the other two nodes (a network partition)
#   scripts/cluster.sh heal         end every partition
#   scripts/cluster.sh leftovers    list what a `start` made that still exists (nothing after `stop`)
#
# The nodes run Debian forky's rabbitmq-server 4.3 from the same root as `make broker`'s 4.3 node
# (.broker/forky-root, made and mounted by scripts/broker.sh), on 127.0.0.1 ports 5700-5702 (AMQP;
# CLUSTER_PORT moves the first) with their data under the root's /var/lib/tutorials-cluster/. They share
# one Erlang cookie, which is what lets them talk to each other. RabbitMQ 4.3 keeps its metadata (queues,
# exchanges, bindings, users, policies) in Khepri, a Raft cluster of the three nodes: declaring anything
# needs a majority, two nodes of three.
#
# The network. So that a partition is a real one (packets lost between the nodes, not an Erlang-level
# disconnect), each node runs in a network namespace of its own, and nothing of it is on this machine's
# network:
#
#   tutorials-c1  (node tutorials-c1@node1, 10.199.0.1)  eth0 ──┐
#   tutorials-c2  (node tutorials-c2@node2, 10.199.0.2)  eth0 ──┼── ports c1 c2 c3 of bridge br0 in
#   tutorials-c3  (node tutorials-c3@node3, 10.199.0.3)  eth0 ──┘   the namespace tutorials-net
#
# The addresses 10.199.0.0/24 exist only inside these four namespaces: this machine's own namespace gets
# no link, no address, no route and no firewall rule. The host names node1-3 are in the root's
# /etc/hosts (the nodes and rabbitmqctl read that one), each node's epmd runs in its namespace (port
# 4372 there), and rabbitmqctl for node N runs in node N's namespace, so `ctl N` works during a
# partition too. A node's AMQP listener is on 127.0.0.1 of its namespace; clients on this machine reach
# it through two socat forwarders, 127.0.0.1:570N here -> a Unix socket in /run/tutorials-cluster/
# -> 127.0.0.1:570N in the node's namespace. A Unix socket crosses network namespaces without any link,
# so this client path never crosses the bridge and a partition leaves it open: a client connected to a
# cut-off node stays connected to the minority side. (One difference from a node without forwarders:
# while node N is down, a dial to port 570N is accepted and closed at once, an EOF, not refused.)
#
# A partition is a rule in the bridge's namespace (nftables, family bridge): every frame but ARP to or
# from port cN is dropped, both ways, all ports (Erlang distribution, epmd, everything). Nothing on
# either side is told: no reset, no error, the node's link stays up; its packets are simply lost, as
# when a network between two data centres breaks. `heal` removes the rule.
#
# Failure detection: the cluster's nodes use net_ticktime = 10 s (RabbitMQ's default is 60 s), so that a
# node sees a silent peer as down after 7.5-12.5 s (between 3/4 and 5/4 of the tick time) instead of
# 45-75 s: a "long" partition, longer than detection, takes about 15 s, and a "short" one is anything
# under 7 s. A production cluster keeps the default; only the timings change, not what happens.
#
# What `start` makes, `stop` removes, and it is written so that it can: the namespaces (and the
# /run/netns mount when `ip netns` made it for them), the forwarders, /run/tutorials-cluster, the host
# names; the nodes' data stays (a later `start` brings the same cluster back). socat, nftables and
# iproute2 are installed with apt-get when missing. `start` that fails undoes what it made (a trap).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
root=$repo/.broker/forky-root
base=/var/lib/tutorials-cluster
first_port=${CLUSTER_PORT:-5700}
nodes=(1 2 3)
run=/run/tutorials-cluster # Unix sockets, the forwarders' pids, what was made
netns=tutorials-net        # the bridge's namespace
subnet=10.199.0            # .1-.3: the nodes, inside the namespaces only
ticktime=10

say() { printf 'cluster: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

port_of() { echo $((first_port + $1 - 1)); }
host_of() { echo "node$1"; }
name_of() { echo "tutorials-c$1@$(host_of "$1")"; }
ns_of() { echo "tutorials-c$1"; }
url() {
	local urls=() n
	for n in "${nodes[@]}"; do urls+=("amqp://guest:guest@localhost:$(port_of "$n")/"); done
	(
		IFS=,
		echo "${urls[*]}"
	)
}

# env_of N: sets `envs` to the environment of node N's server and of the rabbitmqctl that talks to it.
env_of() {
	local n=$1 d="$base/c$1"
	local port
	port=$(port_of "$n")
	envs=(PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
		HOME="$d" RABBITMQ_NODENAME="$(name_of "$n")" RABBITMQ_NODE_PORT="$port"
		RABBITMQ_DIST_PORT=$((port + 20000)) ERL_EPMD_PORT=4372
		RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/rabbit.pid"
		RABBITMQ_CONFIG_FILE="$d/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
		# rabbitmqctl ticks as the nodes do: with Erlang's default (60 s) it would stay silent for 15 s,
		# and a node would drop it after 10.
		"RABBITMQ_CTL_ERL_ARGS=-kernel net_ticktime $ticktime"
		ERL_CRASH_DUMP_SECONDS=0)
}

# in_ns N COMMAND...: run COMMAND in node N's network namespace, in the root, with node N's environment.
in_ns() {
	local n=$1 envs
	shift
	env_of "$n"
	nsenter --net="/run/netns/$(ns_of "$n")" chroot "$root" /usr/bin/env -i "${envs[@]}" "$@"
}

# ctl N ARGS: rabbitmqctl ARGS against node N, from its namespace (CLI=rabbitmq-queues for another tool).
ctl() {
	local n=$1
	shift
	if [[ ! -e /run/netns/$(ns_of "$n") ]]; then
		say "node $n's network namespace does not exist: scripts/cluster.sh start"
		return 1
	fi
	in_ns "$n" "/usr/lib/rabbitmq/bin/${CLI:-rabbitmqctl}" "$@"
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

# --- the network ------------------------------------------------------------------------------------

need_root() { [[ $(id -u) -eq 0 ]] || die "the cluster's network namespaces need root: run it as root"; }

# need_tools: ip (iproute2), nsenter (util-linux), nft (nftables) and socat, installed when missing.
need_tools() {
	local need=()
	command -v ip >/dev/null || need+=(iproute2)
	command -v nsenter >/dev/null || need+=(util-linux)
	command -v nft >/dev/null || need+=(nftables)
	command -v socat >/dev/null || need+=(socat)
	((${#need[@]})) || return 0
	command -v apt-get >/dev/null || die "the cluster needs ${need[*]} (Debian's packages), and there is no apt-get"
	say "installing ${need[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

have_ns() { [[ -e /run/netns/$1 ]]; }

# The bridge's nftables table: the set `cut` holds the ports whose node is cut off.
nft_rules() {
	cat <<'EOF'
table bridge partitions {
	set cut {
		type ifname
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		ether type arp accept
		iifname @cut drop
		oifname @cut drop
	}
}
EOF
}

# hosts: the nodes' host names in the root's /etc/hosts, each line marked, so that `stop` removes
# those and no other.
hosts_add() {
	local n f=$root/etc/hosts
	hosts_remove
	for n in "${nodes[@]}"; do printf '%s.%s\t%s\t# tutorials-cluster\n' "$subnet" "$n" "$(host_of "$n")"; done >>"$f"
}
hosts_remove() {
	local f=$root/etc/hosts
	[[ -f $f ]] && grep -q '# tutorials-cluster$' "$f" || return 0
	grep -v '# tutorials-cluster$' "$f" >"$f.tmp" || true
	mv "$f.tmp" "$f"
}

# net_up: the namespaces, the bridge, the links, the host names and the forwarders; what exists is kept.
net_up() {
	local n ns port
	need_tools
	mkdir -p "$run"
	# `ip netns add` makes /run/netns a mount point the first time; remember to undo that too.
	if [[ ! -e $run/made-netns-mount ]] && ! mountpoint -q /run/netns 2>/dev/null; then
		: >"$run/made-netns-mount"
	fi
	if ! have_ns "$netns"; then
		ip netns add "$netns"
		ip -n "$netns" link set lo up
		ip -n "$netns" link add br0 type bridge
		ip -n "$netns" link set br0 up
		nft_rules | ip netns exec "$netns" nft -f -
	fi
	for n in "${nodes[@]}"; do
		ns=$(ns_of "$n")
		if ! have_ns "$ns"; then
			ip netns add "$ns"
			ip -n "$ns" link set lo up
		fi
		if ! ip -n "$netns" link show "c$n" >/dev/null 2>&1; then
			ip -n "$netns" link add "c$n" type veth peer name eth0 netns "$ns"
			ip -n "$netns" link set "c$n" master br0 up
			ip -n "$ns" addr add "$subnet.$n/24" dev eth0
			ip -n "$ns" link set eth0 up
		fi
	done
	hosts_add
	for n in "${nodes[@]}"; do
		port=$(port_of "$n")
		ns=$(ns_of "$n")
		# The node's side: Unix socket -> 127.0.0.1:port in its namespace.
		if ! alive "$run/in-$n.pid"; then
			setsid nsenter --net="/run/netns/$ns" socat "UNIX-LISTEN:$run/c$n.sock,fork,unlink-early" \
				"TCP:127.0.0.1:$port" </dev/null >/dev/null 2>&1 &
			echo $! >"$run/in-$n.pid"
		fi
		# This machine's side: 127.0.0.1:port -> the Unix socket.
		if ! alive "$run/out-$n.pid"; then
			setsid socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$run/c$n.sock" \
				</dev/null >/dev/null 2>&1 &
			echo $! >"$run/out-$n.pid"
		fi
	done
	# The forwarders listen once the ports answer (a node behind may not run yet).
	for n in "${nodes[@]}"; do
		for _ in $(seq 50); do
			[[ -S $run/c$n.sock ]] && (exec 3<>"/dev/tcp/127.0.0.1/$(port_of "$n")") 2>/dev/null && break
			sleep 0.1
		done
	done
}

# cmdline /proc/PID/cmdline: that process's command line, words joined by spaces ("" once it is gone).
cmdline() { { tr '\0' ' ' <"$1"; } 2>/dev/null || true; }

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# net_down: everything net_up made, removed; what is already gone is skipped.
net_down() {
	local n ns f pids
	# The forwarders: each is the leader of its process group (setsid), with its per-connection children.
	for f in "$run"/in-*.pid "$run"/out-*.pid; do
		[[ -s $f ]] && kill -- "-$(cat "$f")" 2>/dev/null
		rm -f "$f"
	done
	# A forwarder whose pid file was lost: found by its Unix socket's path.
	for f in $(grep -las "$run/c[0-9]\.sock" /proc/[0-9]*/cmdline); do
		kill "$(basename "$(dirname "$f")")" 2>/dev/null
	done
	# Whatever still runs in a node's namespace (its epmd, a node that did not stop), then the namespaces.
	for ns in "$(ns_of 1)" "$(ns_of 2)" "$(ns_of 3)" "$netns"; do
		have_ns "$ns" || continue
		for sig in TERM KILL; do
			pids=$(ip netns pids "$ns" 2>/dev/null) || true
			[[ -n $pids ]] || break
			# shellcheck disable=SC2086 # one pid a word
			kill -s "$sig" $pids 2>/dev/null || true
			for _ in $(seq 30); do
				[[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
				sleep 0.1
			done
		done
		ip netns del "$ns"
	done
	hosts_remove
	if [[ -e $run/made-netns-mount ]] && mountpoint -q /run/netns 2>/dev/null &&
		[[ -z $(ls -A /run/netns) ]]; then
		umount /run/netns && rmdir /run/netns 2>/dev/null || true
	fi
	rm -rf "$run"
}

# leftovers: what a start made and a stop did not remove, one a line.
leftovers() {
	local n f
	for n in "$(ns_of 1)" "$(ns_of 2)" "$(ns_of 3)" "$netns"; do
		have_ns "$n" && echo "namespace $n"
	done
	[[ -e $run ]] && echo "folder $run"
	grep -F -e "/run/netns/tutorials-" -e " $run" /proc/self/mounts | cut -d' ' -f2 | sed 's/^/mount /' || true
	if [[ -f $root/etc/hosts ]] && grep -q '# tutorials-cluster$' "$root/etc/hosts"; then
		echo "host names in $root/etc/hosts"
	fi
	for f in $(grep -las -e "$run/c[0-9]\.sock" -e "$base/c[0-9]/" /proc/[0-9]*/cmdline); do
		[[ $f == /proc/$$/* || $f == /proc/$BASHPID/* ]] && continue
		echo "process $(basename "$(dirname "$f")"): $(cmdline "$f" | cut -c1-100)"
	done
	for n in "${nodes[@]}"; do
		(exec 3<>"/dev/tcp/127.0.0.1/$(port_of "$n")") 2>/dev/null && echo "port $(port_of "$n") answers"
	done
	return 0
}

# cut: the ports whose node is cut off (c1, c2, c3), one a line.
cut_ports() {
	have_ns "$netns" || return 0
	ip netns exec "$netns" nft -j list set bridge partitions cut 2>/dev/null |
		grep -o '"elem": *\[[^]]*\]' | grep -o '"c[0-9]"' | tr -d '"' || true
}

# --- the nodes --------------------------------------------------------------------------------------

# launch_node N: start node N's server in its namespace, in the background (it waits for nothing).
launch_node() {
	local n=$1 d="$root$base/c$1" envs
	local port
	port=$(port_of "$n")
	mkdir -p "$d/mnesia" "$d/log"
	{
		echo "listeners.tcp.1 = 127.0.0.1:$port"
		echo "loopback_users.guest = true"
		# Failure detection in 7.5-12.5 s, not 45-75 s (the script's header says why).
		echo "net_ticktime = $ticktime"
		# A quorum queue gives the unacknowledged tasks of a consumer on a node it sees as down to other
		# consumers after this long (RabbitMQ's default: 60 s), in case the node comes back. 5 s, so that the
		# tests of a partition see those tasks move in seconds, not minutes; only the timing changes.
		echo "consumer_disconnected_timeout = 5000"
	} >"$d/rabbitmq.conf"
	echo '[].' >"$d/enabled_plugins"
	# One cookie for the three nodes: Erlang nodes only talk to nodes that share theirs.
	cp "$root$base/cookie" "$d/.erlang.cookie"
	chmod 400 "$d/.erlang.cookie"
	rm -f "$d/rabbit.pid"
	env_of "$n"
	setsid nohup nsenter --net="/run/netns/$(ns_of "$n")" chroot "$root" /usr/bin/env -i "${envs[@]}" \
		/usr/lib/rabbitmq/bin/rabbitmq-server >"$d/log/startup.log" 2>&1 </dev/null &
}

# start_nodes N...: start the nodes that do not run, all at once, and wait until each has booted. All at
# once matters: a node of a cluster that was stopped waits, as it boots, for a majority of the cluster's
# nodes (Khepri's Raft) before it serves anything.
start_nodes() {
	local n todo=() t0=$SECONDS
	for n in "$@"; do running "$n" || todo+=("$n"); done
	((${#todo[@]})) || return 0
	ensure_root
	net_up
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

stop_all() {
	local n stoppers=()
	# All at once: the last node of a Khepri cluster to stop waits for the others otherwise. (Only these
	# are waited for: after a failed start, this shell's children include the forwarders.)
	for n in "${nodes[@]}"; do
		running "$n" || continue
		(
			pid=$(pid_of "$n")
			ctl "$n" -q shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
			wait_down "$pid" || kill -9 "$pid" 2>/dev/null || true
		) &
		stoppers+=($!)
	done
	((${#stoppers[@]} == 0)) || wait "${stoppers[@]}"
	net_down
	RABBITMQ_SERIES=4.3 "$here/broker.sh" release-root
}

# A `start` that fails (or is interrupted) undoes what it made, unless the cluster ran before it.
on_start_exit() {
	local rc=$?
	((rc == 0)) && return 0
	say "start failed (exit $rc): stopping what it started"
	stop_all >/dev/null 2>&1 || true
	exit "$rc"
}

case ${1:-start} in
start)
	need_root
	ran_before=''
	running 1 && running 2 && running 3 && ran_before=1
	[[ -n $ran_before ]] || trap on_start_exit EXIT
	trap 'exit 130' INT TERM
	ensure_root
	mkdir -p "$root$base"
	# Data made before the nodes had namespaces (named tutorials-cN@localhost) cannot be reused.
	if [[ ! -f $root$base/layout ]]; then
		rm -rf "${root:?}$base"/c[123]
		echo "namespaces $(name_of 1)" >"$root$base/layout"
	fi
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
	trap - EXIT
	say "3 nodes running, clustered; use:"
	echo "AMQP_URL=$(url)"
	;;
stop)
	need_root
	stop_all
	say "stopped"
	;;
status)
	cut=$(cut_ports)
	for n in "${nodes[@]}"; do
		state=down
		running "$n" && state=running
		grep -qx "c$n" <<<"$cut" && state+=", cut off from the other nodes (scripts/cluster.sh heal)"
		say "node $n ($(name_of "$n"), port $(port_of "$n")): $state"
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
queues | diagnostics)
	check_node "${2:-}"
	tool=rabbitmq-$1
	n=$2
	shift 2
	CLI=$tool ctl "$n" "$@"
	;;
partition)
	check_node "${2:-}"
	have_ns "$netns" || die "no cluster network: scripts/cluster.sh start"
	ip netns exec "$netns" nft add element bridge partitions cut "{ c$2 }"
	say "node $2 cut off from the other nodes at $(date +%T.%3N); clients still reach it on port $(port_of "$2")"
	;;
heal)
	have_ns "$netns" || die "no cluster network: scripts/cluster.sh start"
	ip netns exec "$netns" nft flush set bridge partitions cut
	say "every partition healed at $(date +%T.%3N)"
	;;
leftovers)
	leftovers
	;;
*)
	say "usage: $0 start|stop|status|kill N|stop-node N|start-node N|ctl N ARGS...|queues N ARGS...|diagnostics N ARGS...|partition N|heal|leftovers"
	exit 2
	;;
esac
