#!/usr/bin/env bash
# broker.sh: make sure a RabbitMQ broker answers at AMQP_URL, the project's own way.
#
#   scripts/broker.sh start    use a broker that already answers; else `docker compose`; else a local
#                              node of Debian's rabbitmq-server (installed with apt-get when missing)
#   scripts/broker.sh stop     stop what `start` started (the local node, or the compose service)
#   scripts/broker.sh restart  a full stop and start of the local node (durability tests need it)
#   scripts/broker.sh status   say what answers, and who started it
#   scripts/broker.sh ctl ARGS rabbitmqctl ARGS against the local node (list_queues, close_connection...)
#
# The local node keeps its data and logs under .broker/<port>/ (git ignores it). Its port is the one in
# AMQP_URL, so several nodes can run side by side (one per port) without seeing each other.
set -euo pipefail

AMQP_URL=${AMQP_URL:-amqp://guest:guest@localhost:5672/}
root=$(cd "$(dirname "$0")/.." && pwd)

# host and port from the URL: amqp://user:pass@host:port/vhost (port defaults to 5672).
hostport=${AMQP_URL#*://}
hostport=${hostport##*@}
hostport=${hostport%%/*}
host=${hostport%%:*}
port=5672
[[ $hostport == *:* ]] && port=${hostport##*:}
[[ -n $host ]] || host=localhost

dir="$root/.broker/$port"
node="tutorials-$port@localhost"
rmq=/usr/lib/rabbitmq/bin

say() { printf 'broker: %s\n' "$*" >&2; }

# answers: does anything accept TCP connections at host:port? (bash's /dev/tcp, no extra tool needed)
answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

is_local() { [[ $host == localhost || $host == 127.0.0.1 || $host == ::1 ]]; }

# The environment every rabbitmq script sees: the node's name, port and folders, and a HOME of its own
# so the Erlang cookie that rabbitmqctl needs is the node's, not the user's.
node_env() {
	export HOME="$dir"
	export RABBITMQ_NODENAME="$node"
	export RABBITMQ_NODE_PORT="$port"
	export RABBITMQ_DIST_PORT=$((port + 20000))
	export RABBITMQ_MNESIA_BASE="$dir/mnesia"
	export RABBITMQ_LOG_BASE="$dir/log"
	export RABBITMQ_PID_FILE="$dir/rabbit.pid"
	export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
	export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
	export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
	export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
}

install_server() {
	[[ -x $rmq/rabbitmq-server ]] && return 0
	if [[ $(id -u) -ne 0 ]]; then
		say "rabbitmq-server is not installed; run: sudo apt-get install rabbitmq-server (or start Docker)"
		exit 1
	fi
	say "installing Debian's rabbitmq-server with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# The package would try to start a system-wide node; we run our own, so the service stays down.
	apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
}

start_local() {
	install_server
	mkdir -p "$dir/mnesia" "$dir/log"
	# A small config: listen on loopback only, and let guest in (it is the tutorials' user).
	cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$port
loopback_users.guest = true
log.file.level = info
CONF
	echo '[].' >"$dir/enabled_plugins"
	: >"$dir/rabbitmq-env.conf"
	node_env
	say "starting local node $node (data in ${dir#"$root"/})"
	nohup "$rmq/rabbitmq-server" >"$dir/log/startup.log" 2>&1 &
	echo $! >"$dir/server.pid"
	# Wait for the node itself to say it is up (rabbitmqctl wait watches the pid file, then the boot):
	# no fixed sleep.
	if ! "$rmq/rabbitmqctl" -q wait "$RABBITMQ_PID_FILE" --timeout 120 >/dev/null 2>&1 || ! answers; then
		say "the local node did not start; its log: $dir/log/startup.log"
		tail -n 20 "$dir/log/startup.log" >&2 || true
		exit 1
	fi
	echo local >"$dir/owner"
	say "ready at $host:$port"
}

stop_local() {
	[[ -f $dir/owner ]] || return 0
	node_env
	if [[ $(cat "$dir/owner") == compose ]]; then
		docker compose -f "$root/docker-compose.yml" down
	else
		# shutdown waits until the node's OS process has exited.
		"$rmq/rabbitmqctl" -q shutdown >/dev/null 2>&1 || true
		if [[ -f $dir/server.pid ]]; then
			pid=$(cat "$dir/server.pid")
			while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
		fi
	fi
	rm -f "$dir/owner" "$dir/server.pid"
	say "stopped"
}

case ${1:-start} in
start)
	if answers; then
		say "a broker answers at $host:$port; using it"
		exit 0
	fi
	if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
		say "starting RabbitMQ with docker compose"
		mkdir -p "$dir"
		docker compose -f "$root/docker-compose.yml" up -d --wait
		echo compose >"$dir/owner"
		exit 0
	fi
	if ! is_local; then
		say "nothing answers at $host:$port, and a node can only be started here on localhost"
		exit 1
	fi
	start_local
	;;
stop)
	stop_local
	;;
restart)
	if [[ ! -f $dir/owner ]]; then
		say "the broker at $host:$port was not started by this script; cannot restart it"
		exit 1
	fi
	owner=$(cat "$dir/owner")
	if [[ $owner == compose ]]; then
		docker compose -f "$root/docker-compose.yml" restart
		exit 0
	fi
	stop_local
	start_local
	;;
status)
	if answers; then
		say "a broker answers at $host:$port (started by: $(cat "$dir/owner" 2>/dev/null || echo 'someone else'))"
	else
		say "nothing answers at $host:$port"
		exit 1
	fi
	;;
ctl)
	shift
	node_env
	exec "$rmq/rabbitmqctl" "$@"
	;;
*)
	say "usage: $0 start|stop|restart|status|ctl ARGS..."
	exit 2
	;;
esac
