#!/usr/bin/env bash
# broker.sh: make sure a RabbitMQ broker answers at AMQP_URL, the project's own way.
#
#   scripts/broker.sh start    use a broker that already answers; else `docker compose`; else a local
#                              node of RABBITMQ_SERIES (see below) on the port of AMQP_URL
#   scripts/broker.sh stop     stop what `start` started (the local node, or the compose service)
#   scripts/broker.sh restart  a full stop and start of that broker (the durability tests need it)
#   scripts/broker.sh status   say what answers, which series, and who started it
#   scripts/broker.sh ctl ARGS rabbitmqctl ARGS against the node of this port (list_queues, ...)
#   scripts/broker.sh root     make the series' root if it is missing (for other scripts of its nodes)
#
# RABBITMQ_SERIES picks the local node's RabbitMQ:
#   4.3   (the default) Debian forky's rabbitmq-server 4.3.x, run with chroot from a forky root that
#         debootstrap makes once under .broker/forky-root (about a minute and 400 MB; needs root), with
#         RabbitMQ's own defaults
#   4.0   Debian trixie's rabbitmq-server 4.0.5, from a trixie root under .broker/trixie-root, configured
#         with RabbitMQ 4.3's defaults for deprecated features (scripts/rabbitmq-4.3-defaults.conf)
#   3.10  Debian bookworm's rabbitmq-server 3.10.8, installed on this machine with apt-get when missing
# Unset, a port keeps the series it ran last (so a stop and start bring back the same node and data).
#
# Every local node also listens for TLS (amqps://) on 127.0.0.1, port 5671 for the node on 5672 and
# AMQP port + 30000 for the others, with a certificate authority, a server certificate for localhost and
# a client certificate made once for that port with openssl under .broker/<port>/tls/ (ca.pem,
# client.pem, client.key). The client certificate's common name is AMQP_URL's user, and the node takes
# it as a login with auth_mechanism=external (the rabbitmq_auth_mechanism_ssl plugin).
#
# Every node is ours alone: its own name (tutorials-<port>), data, logs and Erlang cookie, listening on
# 127.0.0.1 only. .broker/<port>/ (git ignores .broker/) holds `owner` (it exists while a broker this
# script started runs: `local` or `compose`), `series`, `tls/`, and the 3.10 node's data; a 4.x node's
# data is inside its root, in /var/lib/tutorials/<port>/. Several nodes run side by side, one per port.
#
# When AMQP_URL names a user other than guest or a vhost other than /, `start` makes them on the broker
# it starts, or on the one it started before: the user with AMQP_URL's password (never printed), the
# vhost, and all permissions for the user on it.
#
# Environment: AMQP_URL (default amqp://guest:guest@localhost:5672/), RABBITMQ_SERIES (4.3, 4.0 or
# 3.10), DEBIAN_MIRROR (for debootstrap).
set -euo pipefail

AMQP_URL=${AMQP_URL:-amqp://guest:guest@localhost:5672/}
repo=$(cd "$(dirname "$0")/.." && pwd)
state="$repo/.broker"
BROKER_ROOT="" codename="" epmd_port=""
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
compose_file="$repo/docker-compose.yml"

# rooted SERIES: does that series run from a Debian root of its own (chroot)?
rooted() { [[ $1 == 4.3 || $1 == 4.0 ]]; }

# use_root SERIES: point BROKER_ROOT, codename and epmd_port at that series' root. The Erlang port
# mapper (epmd) of each root's nodes listens on a port of its own, so that they never share an epmd with
# another root's nodes or with this machine's own Erlang nodes (a 3.10 node uses the usual 4369).
use_root() {
	case $1 in
	4.3) codename=forky epmd_port=4372 ;;
	4.0) codename=trixie epmd_port=4371 ;;
	*) die "use_root: series $1 has no root" ;;
	esac
	BROKER_ROOT="$state/$codename-root"
}

say() { printf 'broker: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# --- AMQP_URL ---------------------------------------------------------------------------------------

# urldecode S: sets `decoded` to S with its %XX escapes decoded, as Go's net/url does for the user
# information and the path (a '+' stays a '+'). Fails on a malformed escape or %00.
urldecode() {
	local LC_ALL=C s=$1 c
	decoded=''
	while [[ $s == *%* ]]; do
		decoded+=${s%%\%*}
		s=${s#*%}
		[[ $s =~ ^[0-9A-Fa-f]{2} && ${s:0:2} != 00 ]] || return 1
		printf -v c '%b' "\\x${s:0:2}"
		decoded+=$c
		s=${s:2}
	done
	decoded+=$s
}

# parse_url: host, port, user, password and vhost from AMQP_URL, with amqp091-go's defaults (guest,
# guest, vhost /, port 5672, or 5671 for amqps). The vhost is the path without its first '/'.
parse_url() {
	local rest authority userinfo path=''
	[[ $AMQP_URL =~ ^amqps?:// ]] || die "AMQP_URL must look like amqp://user:password@host:5672/vhost"
	scheme=${AMQP_URL%%://*}
	rest=${AMQP_URL#*://}
	rest=${rest%%[?#]*}
	authority=${rest%%/*}
	[[ $rest == */* ]] && path=/${rest#*/}
	user=guest password=guest
	if [[ $authority == *@* ]]; then
		userinfo=${authority%@*}
		authority=${authority##*@}
		urldecode "${userinfo%%:*}" || die "AMQP_URL: bad %-escape in the user name"
		user=$decoded
		if [[ $userinfo == *:* ]]; then
			urldecode "${userinfo#*:}" || die "AMQP_URL: bad %-escape in the password"
			password=$decoded
		fi
	fi
	if [[ $authority == \[* ]]; then # [IPv6]:port
		host=${authority%%]*}
		host=${host#[}
		port=${authority#*]}
		port=${port#:}
	else
		host=${authority%%:*}
		port=''
		[[ $authority == *:* ]] && port=${authority##*:}
	fi
	[[ -n $host ]] || host=localhost
	[[ -n $port ]] || port=$([[ $scheme == amqps ]] && echo 5671 || echo 5672)
	[[ $port =~ ^[0-9]+$ ]] || die "AMQP_URL: port '$port' is not a number"
	vhost=/
	if [[ -n $path && $path != / ]]; then
		urldecode "$path" || die "AMQP_URL: bad %-escape in the vhost"
		vhost=${decoded:1}
	fi
}

parse_url
pdir="$state/$port" # this port's state (owner, series, the 3.10 node's data)

# answers: does anything accept TCP connections at host:port? (bash's /dev/tcp, no extra tool needed)
answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

is_local() { [[ $host == localhost || $host == 127.0.0.1 ]]; }

# --- series -----------------------------------------------------------------------------------------

# series_wanted: RABBITMQ_SERIES if set, else the series this port ran last, else 4.3.
series_wanted() {
	local s=${RABBITMQ_SERIES:-}
	if [[ -z $s ]]; then
		s=$(cat "$pdir/series" 2>/dev/null) || s=4.3
		[[ $s == 4 ]] && s=4.0 # a port that ran the project's earlier "4" series (4.0.5) keeps it
	fi
	normal_series "$s"
}

# normal_series S: S as one of 4.3, 4.0, 3.10.
normal_series() {
	case $1 in
	4.3 | 4 | 4.x) echo 4.3 ;;
	4.0) echo 4.0 ;;
	3.10 | 3) echo 3.10 ;;
	*) die "RABBITMQ_SERIES=$1: use 4.3 (the default), 4.0 or 3.10" ;;
	esac
}

# series_of_port: the series of the node this script started on this port (or would start).
series_of_port() {
	local s
	s=$(cat "$pdir/series" 2>/dev/null) || s=$(series_wanted)
	[[ $s == 4 ]] && s=4.0
	echo "$s"
}

# version SERIES: the RabbitMQ version that series runs here ("" when not installed yet).
version() {
	local d
	if rooted "$1"; then
		use_root "$1"
		d=("$BROKER_ROOT"/usr/lib/rabbitmq/lib/rabbitmq_server-*)
	else d=(/usr/lib/rabbitmq/lib/rabbitmq_server-*); fi
	[[ -d ${d[-1]} ]] && echo "${d[-1]##*-}"
	return 0
}

# --- the nodes --------------------------------------------------------------------------------------

# node_dir SERIES PORT: the node's folder, as the node sees it (inside the root for 4.x).
node_dir() {
	if rooted "$1"; then echo "/var/lib/tutorials/$2"; else echo "$state/$2"; fi
}

# host_dir SERIES PORT: the same folder, as this script sees it.
host_dir() {
	if rooted "$1"; then
		use_root "$1"
		echo "$BROKER_ROOT/var/lib/tutorials/$2"
	else echo "$state/$2"; fi
}

# node_cmd SERIES PORT server|cli COMMAND ARGS...: sets `cmd` to the command line that runs a rabbitmq
# command with the node's environment: its name, port and folders, and a HOME of its own so that the
# Erlang cookie is the node's, not the user's. No Erlang VM writes a crash dump into the caller's
# folder: the server's goes into its node folder, and a CLI tool writes none. A 4.x command runs in the
# series' root (chroot), with only this environment.
node_cmd() {
	local series=$1 p=$2 kind=$3 d
	shift 3
	d=$(node_dir "$series" "$p")
	local envs=(
		HOME="$d" RABBITMQ_NODENAME="tutorials-$p@localhost" RABBITMQ_NODE_PORT="$p"
		RABBITMQ_DIST_PORT=$((p + 20000)) RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log"
		RABBITMQ_PID_FILE="$d/rabbit.pid" RABBITMQ_CONFIG_FILE="$d/rabbitmq"
		RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
		RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" LC_ALL=C.UTF-8 ERL_CRASH_DUMP="$d/erl_crash.dump"
	)
	if [[ $kind == cli ]]; then envs+=(ERL_CRASH_DUMP_SECONDS=0); fi
	if rooted "$series"; then
		use_root "$series"
		cmd=(chroot "$BROKER_ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin
			"ERL_EPMD_PORT=$epmd_port" "${envs[@]}" "/usr/lib/rabbitmq/bin/$1" "${@:2}")
	else
		cmd=(env "${envs[@]}" "/usr/lib/rabbitmq/bin/$1" "${@:2}")
	fi
}

# run_node SERIES PORT server|cli COMMAND ARGS...: run that command line.
run_node() {
	node_cmd "$@"
	"${cmd[@]}"
}

need_root() {
	[[ $(id -u) -eq 0 ]] && return 0
	die "$1 needs root (chroot, mount): run it as root (sudo make broker), or use Docker, or RABBITMQ_SERIES=3.10"
}

apt_install() {
	say "installing $* with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# install_310: bookworm's rabbitmq-server 3.10 on this machine, installed with apt-get when missing.
install_310() {
	if [[ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
		[[ $(id -u) -eq 0 ]] || die "rabbitmq-server is not installed; run: sudo apt-get install rabbitmq-server"
		command -v apt-get >/dev/null || die "RABBITMQ_SERIES=3.10 needs Debian's rabbitmq-server (apt-get)"
		# The package would start a system-wide node; we run our own, so no service starts (policy-rc.d).
		local policy=/usr/sbin/policy-rc.d made=''
		if [[ ! -e $policy ]]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made=1
		fi
		apt_install rabbitmq-server || {
			[[ -z $made ]] || rm -f "$policy"
			die "apt-get could not install rabbitmq-server"
		}
		[[ -z $made ]] || rm -f "$policy"
	fi
	[[ $(version 3.10) == 3.10.* ]] ||
		die "RABBITMQ_SERIES=3.10 wants Debian bookworm's rabbitmq-server 3.10, and this machine has $(version 3.10)"
}

# lock_root: one script at a time makes, mounts or unmounts the root BROKER_ROOT (fd 9, closed for nodes).
lock_root() {
	mkdir -p "$(dirname "$BROKER_ROOT")"
	exec 9>"$BROKER_ROOT.lock"
	flock 9
}

# make_root: the root of BROKER_ROOT's Debian release (codename) with rabbitmq-server, made with
# debootstrap when missing.
make_root() {
	hosts_file
	[[ -x $BROKER_ROOT/usr/lib/rabbitmq/bin/rabbitmq-server ]] && return 0
	need_root "RabbitMQ from a Debian $codename root"
	[[ ! -e $BROKER_ROOT ]] || die "$BROKER_ROOT has no rabbitmq-server: remove it (umount $BROKER_ROOT/proc first if it is mounted), and a new one is made"
	command -v debootstrap >/dev/null || apt_install debootstrap
	[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || apt_install debian-archive-keyring
	local tmp="$BROKER_ROOT.partial" log="$BROKER_ROOT.debootstrap.log" script=''
	# An older debootstrap may not know the release yet (bookworm's has no forky); its sid script makes
	# any Debian release.
	[[ -e /usr/share/debootstrap/scripts/$codename ]] || script=/usr/share/debootstrap/scripts/sid
	if [[ -e $tmp ]]; then # a debootstrap that did not finish: unmount what it left mounted, then remove
		grep -F " $tmp/" /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l
		rm -rf --one-file-system "$tmp"
	fi
	say "making a Debian $codename root with rabbitmq-server in ${BROKER_ROOT#"$repo"/} with debootstrap (once; about a minute and 400 MB)"
	local t0=$SECONDS
	if ! debootstrap --variant=minbase --include=rabbitmq-server "$codename" "$tmp" "$DEBIAN_MIRROR" $script >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "debootstrap failed (its log: $log)"
	fi
	rm -f "$tmp"/var/cache/apt/archives/*.deb
	mv "$tmp" "$BROKER_ROOT"
	hosts_file
	say "$codename root ready in $((SECONDS - t0)) s"
}

# hosts_file: a minbase root of forky has no /etc/hosts, and a node that cannot resolve localhost dies
# at boot (epmd_error,"localhost",nxdomain).
hosts_file() {
	[[ -d $BROKER_ROOT/etc && ! -s $BROKER_ROOT/etc/hosts ]] || return 0
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$BROKER_ROOT/etc/hosts"
}

# The mounts this script made in the root, one a line, so that it unmounts those and no others.
mounts_file() { echo "$BROKER_ROOT/var/lib/tutorials/mounts"; }

# mount_root: /proc in the root (Erlang and the rabbitmq scripts read it), and the few device files a
# node uses if the root has none (debootstrap makes them where it may). The host's /dev is never
# mounted whole: removing .broker/ with `rm -rf` must not reach this machine's devices.
mount_root() {
	local rec dev
	rec=$(mounts_file)
	mkdir -p "$(dirname "$rec")"
	if ! mountpoint -q "$BROKER_ROOT/proc"; then
		mount --bind /proc "$BROKER_ROOT/proc"
		echo proc >>"$rec"
	fi
	for dev in null zero full random urandom tty; do
		[[ -c $BROKER_ROOT/dev/$dev ]] && continue
		mountpoint -q "$BROKER_ROOT/dev/$dev" && continue
		rm -f "$BROKER_ROOT/dev/$dev"
		touch "$BROKER_ROOT/dev/$dev"
		mount --bind "/dev/$dev" "$BROKER_ROOT/dev/$dev"
		echo "dev/$dev" >>"$rec"
	done
}

# root_procs: the processes running in the root ("pid name" lines), found by their root folder.
root_procs() {
	local p r real
	real=$(cd "$BROKER_ROOT" && pwd -P)
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		[[ $r == "$real" ]] && echo "${p#/proc/} $(cat "$p/comm" 2>/dev/null)"
	done
	return 0
}

# release_root: when no node runs from the root any more (ours or anyone's), stop its idle epmd and
# unmount what mount_root mounted.
release_root() {
	[[ -d $BROKER_ROOT ]] || return 0
	lock_root
	if root_procs | grep -qv ' epmd$'; then
		exec 9>&-
		return 0
	fi
	if root_procs | grep -q ' epmd$'; then
		# epmd refuses -kill while a node is registered with it, and a node that just stopped may still be
		# for a moment: try for a few seconds.
		for _ in $(seq 20); do
			chroot "$BROKER_ROOT" /usr/bin/env -i ERL_EPMD_PORT=$epmd_port /usr/bin/epmd -kill >/dev/null 2>&1 && break
			sleep 0.25
		done
	fi
	local rec m
	rec=$(mounts_file)
	if [[ -s $rec ]]; then
		while read -r m; do
			mountpoint -q "$BROKER_ROOT/$m" && { umount "$BROKER_ROOT/$m" || say "could not unmount $BROKER_ROOT/$m"; }
		done < <(sort -ru "$rec")
		: >"$rec"
	fi
	exec 9>&-
}

# tls_port PORT: the node's TLS (amqps://) port: 5671 beside 5672, else PORT + 30000.
tls_port() { if (($1 == 5672)); then echo 5671; else echo $(($1 + 30000)); fi; }

# make_tls PORT: the port's certificate authority, server certificate (localhost, 127.0.0.1) and client
# certificate (common name: AMQP_URL's user) in .broker/PORT/tls/, made once with openssl; the client
# certificate is made again when AMQP_URL names another user.
make_tls() {
	local t="$state/$1/tls"
	command -v openssl >/dev/null || apt_install openssl
	mkdir -p "$t"
	(
		cd "$t"
		umask 077
		if [[ ! -s ca.pem || ! -s server.pem ]]; then
			rm -f ./*.pem ./*.key ./*.srl client.user
			openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.pem \
				-subj "/CN=RabbitMQ tutorials test CA (port $1)" 2>/dev/null
			openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -out server.pem \
				-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') 2>/dev/null
			rm -f server.csr
		fi
		if [[ ! -s client.pem || $(cat client.user 2>/dev/null) != "$user" ]]; then
			openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=${user//\//\\/}" 2>/dev/null
			openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -out client.pem \
				-extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
			rm -f client.csr
			printf '%s' "$user" >client.user
		fi
		chmod 644 ca.pem server.pem client.pem
	) || die "openssl could not make the TLS certificates in $t"
}

# write_config SERIES PORT: the node's config: listen on 127.0.0.1 only, plain and TLS, let guest in
# from there (the tutorials' user), take a client certificate as a login (EXTERNAL), and for 4.0 refuse
# the deprecated features RabbitMQ 4.3 refuses by default.
write_config() {
	local hd d
	hd=$(host_dir "$1" "$2")
	d=$(node_dir "$1" "$2")
	mkdir -p "$hd/mnesia" "$hd/log" "$hd/tls"
	make_tls "$2"
	if [[ $hd/tls != "$state/$2/tls" ]]; then cp "$state/$2/tls/"{ca.pem,server.pem,server.key} "$hd/tls/"; fi
	{
		echo "listeners.tcp.1 = 127.0.0.1:$2"
		echo "listeners.ssl.1 = 127.0.0.1:$(tls_port "$2")"
		echo "ssl_options.cacertfile = $d/tls/ca.pem"
		echo "ssl_options.certfile = $d/tls/server.pem"
		echo "ssl_options.keyfile = $d/tls/server.key"
		echo "ssl_options.verify = verify_peer"
		echo "ssl_options.fail_if_no_peer_cert = false"
		echo "auth_mechanisms.1 = PLAIN"
		echo "auth_mechanisms.2 = AMQPLAIN"
		echo "auth_mechanisms.3 = EXTERNAL"
		echo "ssl_cert_login_from = common_name"
		echo "loopback_users.guest = true"
		echo "log.file.level = info"
		[[ $1 == 4.0 ]] && grep -v '^#' "$repo/scripts/rabbitmq-4.3-defaults.conf" | grep .
	} >"$hd/rabbitmq.conf"
	echo '[rabbitmq_auth_mechanism_ssl].' >"$hd/enabled_plugins"
	: >"$hd/rabbitmq-env.conf"
}

# start_node SERIES PORT: start a node of that series on that port and wait until it runs.
start_node() {
	local series=$1 p=$2 hd d pid t0=$SECONDS
	((p < 35536)) || die "port $p: a local node needs a port below 35536 (its Erlang distribution port is port+20000, its TLS port port+30000)"
	if rooted "$series"; then
		need_root "RabbitMQ $series from a Debian root"
		use_root "$series"
		lock_root
		make_root
		mount_root
	else
		install_310
	fi
	hd=$(host_dir "$series" "$p")
	d=$(node_dir "$series" "$p")
	write_config "$series" "$p"
	mkdir -p "$state/$p"
	say "starting RabbitMQ $(version "$series") as node tutorials-$p@localhost (data and logs in ${hd#"$repo"/})"
	node_cmd "$series" "$p" server rabbitmq-server
	# In a session of its own, the node outlives a Ctrl+C of the `make test` that started it.
	setsid "${cmd[@]}" >"$hd/log/startup.log" 2>&1 9>&- </dev/null &
	pid=$!
	echo "$pid" >"$state/$p/server.pid"
	echo "$series" >"$state/$p/series"
	if rooted "$series"; then
		# Hold the root's lock until the node runs in it, so that no release_root unmounts under it.
		for _ in $(seq 100); do
			[[ $(readlink "/proc/$pid/root" 2>/dev/null) == "$(cd "$BROKER_ROOT" && pwd -P)" ]] && break
			sleep 0.05
		done
		exec 9>&-
	fi
	# rabbitmqctl wait watches the pid file, then the boot: no fixed sleep. It fails if the node exits.
	if ! run_node "$series" "$p" cli rabbitmqctl -q wait "$d/rabbit.pid" --timeout 120 >/dev/null 2>&1 ||
		! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		say "the node did not start; the end of its log ($hd/log/startup.log):"
		tail -n 20 "$hd/log/startup.log" >&2 || true
		kill "$pid" 2>/dev/null || true
		rm -f "$state/$p/server.pid"
		rooted "$series" && release_root
		exit 1
	fi
	echo local >"$state/$p/owner"
	say "RabbitMQ $(version "$series") ready at localhost:$p (amqps:// on $(tls_port "$p")) in $((SECONDS - t0)) s"
}

# node_runs PORT: does the node this script started on PORT still run? (its recorded pid is alive
# and is rabbitmq-server)
node_runs() {
	local pid
	pid=$(cat "$state/$1/server.pid" 2>/dev/null) || return 1
	grep -qa rabbitmq "/proc/$pid/cmdline" 2>/dev/null
}

# stop_node PORT: stop the local node this script started on PORT, and wait until it has exited.
stop_node() {
	local p=$1 series pid t0=$SECONDS
	series=$(cat "$state/$p/series" 2>/dev/null || echo 4.3)
	[[ $series == 4 ]] && series=4.0
	pid=$(cat "$state/$p/server.pid" 2>/dev/null || true)
	if node_runs "$p"; then
		rooted "$series" && need_root "RabbitMQ $series from a Debian root"
		run_node "$series" "$p" cli rabbitmqctl -q shutdown --timeout 60 >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
		for _ in $(seq 600); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "the node did not stop within 60 s; killing it"
			pkill -KILL -P "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
		fi
		say "stopped RabbitMQ $(version "$series") on port $p in $((SECONDS - t0)) s"
	else
		say "no node started by scripts/broker.sh runs on port $p"
	fi
	rm -f "$state/$p/owner" "$state/$p/server.pid"
	if rooted "$series"; then
		use_root "$series"
		release_root
	fi
}

# --- docker compose ---------------------------------------------------------------------------------

have_compose() { docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }

# compose ARGS: docker compose for this port's service (a project per port, AMQP on the port of
# AMQP_URL; the management UI on 15672 for 5672, else on port+10000).
compose() {
	RABBITMQ_PORT=$port RABBITMQ_MANAGEMENT_PORT=$([[ $port == 5672 ]] && echo 15672 || echo $((port + 10000))) \
		docker compose -f "$compose_file" -p "tutorials-$port" "$@"
}

# --- the broker of this port ------------------------------------------------------------------------

# owner: who started the broker of this port: local, compose, or "" (not this script). A local owner
# whose node is gone (a crash, a reboot) is forgotten.
owner() {
	local o
	o=$(cat "$pdir/owner" 2>/dev/null) || return 0
	if [[ $o == local ]] && ! node_runs "$port"; then
		rm -f "$pdir/owner" "$pdir/server.pid"
		return 0
	fi
	echo "$o"
}

# ctl ARGS: rabbitmqctl against the broker of this port.
ctl() {
	local o
	o=$(owner)
	if [[ $o == compose ]]; then
		compose exec -T rabbitmq rabbitmqctl "$@"
	elif [[ -z $o ]]; then
		die "no broker started by scripts/broker.sh runs on port $port; rabbitmqctl here works on those only"
	else
		local series
		series=$(series_of_port)
		rooted "$series" && need_root "rabbitmqctl in the series' root"
		run_node "$series" "$port" cli rabbitmqctl "$@"
	fi
}

# json S: S as a JSON string.
json() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		'"' | \\) out+="\\$c" ;;
		[[:cntrl:]]) printf -v c '\\u%04x' "'$c" && out+=$c ;;
		*) out+=$c ;;
		esac
	done
	printf '"%s"' "$out"
}

# password_hash: AMQP_URL's password hashed as RabbitMQ stores it (rabbit_password_hashing_sha256:
# base64 of a 4-byte salt followed by SHA-256(salt, password)), so it never goes on a command line.
password_hash() {
	local salt digest
	salt=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	digest=$({ bytes "$salt" && printf '%s' "$password"; } | sha256sum)
	bytes "$salt${digest%% *}" | base64 -w0
}

# bytes HEX: write the bytes that HEX spells.
bytes() {
	local h=$1 out='' i
	for ((i = 0; i < ${#h}; i += 2)); do out+="\\x${h:i:2}"; done
	printf '%b' "$out"
}

# ensure_access: the user, vhost and permissions AMQP_URL names, on our broker (one definitions
# import: it adds or updates them, and leaves everything else as it is).
ensure_access() {
	[[ $user == guest && $vhost == / ]] && return 0
	[[ -n $password || $user == guest ]] || die "AMQP_URL gives user '$user' an empty password, which RabbitMQ refuses to log in"
	local defs="{" out what='' status=0
	if [[ $user != guest ]]; then
		defs+="\"users\":[{\"name\":$(json "$user"),\"password_hash\":\"$(password_hash)\",\"hashing_algorithm\":\"rabbit_password_hashing_sha256\",\"tags\":[]}],"
		what="user '$user'"
	fi
	if [[ $vhost != / ]]; then
		defs+="\"vhosts\":[{\"name\":$(json "$vhost")}],"
		what+="${what:+ and }vhost '$vhost'"
	fi
	defs+="\"permissions\":[{\"user\":$(json "$user"),\"vhost\":$(json "$vhost"),\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}]}"
	# rabbitmqctl 4.0.5 waits forever for definitions on its standard input, so they go through a file
	# that only root reads (inside the container for compose), removed right after.
	local file
	if [[ $(owner) == compose ]]; then
		# shellcheck disable=SC2016 # the container's shell expands $f and $s
		out=$(compose exec -T rabbitmq sh -c 'umask 077; f=$(mktemp); cat >"$f"; rabbitmqctl -q import_definitions "$f"; s=$?; rm -f "$f"; exit $s' <<<"$defs" 2>&1) || status=$?
	else
		file="$(node_dir "$(series_of_port)" "$port")/definitions.json"
		(umask 077 && printf '%s' "$defs" >"$(host_dir "$(series_of_port)" "$port")/definitions.json")
		out=$(ctl -q import_definitions "$file" 2>&1) || status=$?
		rm -f "$(host_dir "$(series_of_port)" "$port")/definitions.json"
	fi
	if ((status)); then
		[[ -n $password ]] && out=${out//"$password"/****}
		die "could not make $what (rabbitmqctl import_definitions): $out"
	fi
	# The import may finish after rabbitmqctl returns ("asynchronous"): wait for the permissions, its
	# last step.
	local tries=30
	until ctl -q list_user_permissions "$user" 2>/dev/null | cut -f1 | grep -qxF -- "$vhost"; do
		((--tries)) || die "rabbitmqctl import_definitions did not make $what within 30 s"
		sleep 1
	done
	say "$what ready, with all permissions on vhost '$vhost'"
}

# describe: what runs on this port and who started it, in a few words.
describe() {
	case $(owner) in
	local)
		local s
		s=$(series_of_port)
		case $s in
		4.3) echo "RabbitMQ $(version 4.3) (series 4.3, from the forky root), started by scripts/broker.sh; amqps:// on port $(tls_port "$port")" ;;
		4.0) echo "RabbitMQ $(version 4.0) (series 4.0, from the trixie root, with 4.3's deprecated-feature defaults), started by scripts/broker.sh; amqps:// on port $(tls_port "$port")" ;;
		*) echo "RabbitMQ $(version 3.10) (series 3.10, this machine's package), started by scripts/broker.sh; amqps:// on port $(tls_port "$port")" ;;
		esac
		;;
	compose) echo "RabbitMQ $(sed -n 's/^ *image: *//p' "$compose_file") (docker compose), started by scripts/broker.sh" ;;
	*) echo "a broker not started by scripts/broker.sh (series unknown)" ;;
	esac
}

cmd_start() {
	local o want
	o=$(owner)
	if answers; then
		say "$(describe) answers at $host:$port; using it"
		if [[ $o == local && -n ${RABBITMQ_SERIES:-} && $(series_wanted) != "$(series_of_port)" ]]; then
			say "(it is not RABBITMQ_SERIES=$RABBITMQ_SERIES: run scripts/broker.sh stop first to change series)"
		fi
		[[ -n $o ]] && ensure_access
		return 0
	fi
	is_local || die "nothing answers at $host:$port, and a node can only be started here on localhost"
	[[ $o == local ]] && die "our node tutorials-$port runs but does not answer at $host:$port; its logs: $(host_dir "$(series_of_port)" "$port")/log (scripts/broker.sh stop, then start)"
	want=$(series_wanted)
	if [[ $scheme == amqps ]]; then die "nothing answers at $host:$port, and the local node speaks amqp://, not amqps://"; fi
	# Docker runs the compose file's 4.3 image; RABBITMQ_SERIES=4.0 or 3.10 always means a local node.
	if [[ $want == 4.3 ]] && have_compose; then
		say "starting RabbitMQ with docker compose ($(sed -n 's/^ *image: *//p' "$compose_file"))"
		mkdir -p "$pdir"
		compose up -d --wait
		echo compose >"$pdir/owner"
	else
		start_node "$want" "$port"
	fi
	ensure_access
}

cmd_stop() {
	local o
	o=$(owner)
	if [[ $o == compose ]]; then
		compose down
		rm -f "$pdir/owner"
		say "stopped the compose service"
	elif [[ -f $pdir/series ]]; then
		stop_node "$port" # also when the node is already gone: it unmounts what no node needs
	else
		say "nothing on port $port was started by scripts/broker.sh; nothing to stop"
	fi
}

case ${1:-start} in
start) cmd_start ;;
stop) cmd_stop ;;
restart)
	case $(owner) in
	compose) compose restart ;;
	local)
		stop_node "$port"
		start_node "$(series_wanted)" "$port"
		ensure_access
		;;
	*) die "the broker at $host:$port was not started by scripts/broker.sh; cannot restart it" ;;
	esac
	;;
status)
	if answers; then
		say "$(describe) answers at $host:$port"
	else
		say "nothing answers at $host:$port"
		exit 1
	fi
	;;
ctl)
	shift
	ctl "$@"
	;;
root) # the root of RABBITMQ_SERIES (4.3 unless set), made if missing; prints its path
	root_series=$(normal_series "${RABBITMQ_SERIES:-4.3}")
	rooted "$root_series" || die "RABBITMQ_SERIES=$root_series runs from this machine's package, not a root"
	need_root "RabbitMQ $root_series from a Debian root"
	use_root "$root_series"
	lock_root
	make_root
	echo "$BROKER_ROOT"
	;;
mount-root) # for scripts/cluster.sh: the root made and mounted, for nodes it starts itself
	root_series=$(normal_series "${RABBITMQ_SERIES:-4.3}")
	need_root "RabbitMQ $root_series from a Debian root"
	use_root "$root_series"
	lock_root
	make_root
	mount_root
	;;
release-root) # for scripts/cluster.sh: unmount the root once no node runs from it
	use_root "$(normal_series "${RABBITMQ_SERIES:-4.3}")"
	release_root
	;;
*)
	say "usage: $0 start|stop|restart|status|ctl ARGS...|root|mount-root|release-root"
	exit 2
	;;
esac
