#!/bin/sh
# postinst of the edgeless package: the system user, and the unit enabled
# (not started: set node_register_url in /etc/edgeless/node.toml first).
# Nothing here needs a network.
set -e
if [ "$1" = "configure" ]; then
	if ! getent passwd edgeless >/dev/null; then
		useradd --system --user-group --home-dir /var/lib/edgeless --no-create-home \
			--shell /usr/sbin/nologin --comment "EDGELESS node" edgeless
	fi
	chown edgeless:edgeless /var/lib/edgeless
	chmod 0750 /var/lib/edgeless
	if ! getent group docker >/dev/null; then
		echo "edgeless: there is no docker group yet: install Docker (docker.io or docker-ce) before starting edgeless-node" >&2
	fi
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		systemctl enable edgeless-node.service >/dev/null || true
		if [ -n "$2" ]; then
			# An upgrade: restart a running node on the new binary.
			systemctl try-restart edgeless-node.service || true
		else
			echo "edgeless: edit /etc/edgeless/node.toml (node_register_url, addresses), then: systemctl start edgeless-node" >&2
		fi
	fi
fi
exit 0
