#!/bin/sh
# postrm of the edgeless package: purge removes the state directory (the
# node id and the functions' state); the edgeless user is kept, as Debian
# policy asks.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$1" = "purge" ]; then
	rm -rf /var/lib/edgeless
fi
exit 0
