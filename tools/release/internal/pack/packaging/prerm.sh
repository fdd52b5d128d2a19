#!/bin/sh
# prerm of the edgeless package: on removal, stop the node (SIGTERM: it
# stops and removes its function containers) and disable the unit.
set -e
if [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
	systemctl disable --now edgeless-node.service || true
fi
exit 0
