#!/usr/bin/env bash
# Makes a local base image equivalent to python:3.11-slim-bookworm, for machines that reach
# Debian's packages but no image registry (this project's build machines):
#
#   deploy/container/make-base-image.sh [IMAGE]     default: localhost/debian-python:3.11-bookworm
#
# A minimal Debian bookworm root file system with Python 3.11 and its venv module, built by
# mmdebstrap from this machine's own apt sources, imported with `podman import`. Then
#   make image BASE_IMAGE=localhost/debian-python:3.11-bookworm
set -euo pipefail

image="${1:-localhost/debian-python:3.11-bookworm}"
sources=/etc/apt/sources.list.d/debian.sources  # the host's mirror, whichever it is
[[ -f "$sources" ]] || sources=/etc/apt/sources.list
command -v mmdebstrap >/dev/null || { echo "needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
command -v podman >/dev/null || { echo "needs podman (apt-get install podman)" >&2; exit 1; }

rootfs="$(mktemp -d)/rootfs.tar"
trap 'rm -rf "$(dirname "$rootfs")"' EXIT
mmdebstrap --variant=minbase --format=tar \
  --include=python3,python3-venv,ca-certificates \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$rootfs" "$sources"
podman import \
  --change 'CMD ["python3"]' \
  --change 'ENV LANG=C.UTF-8' \
  "$rootfs" "$image"
echo "base image: $image"
