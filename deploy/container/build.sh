#!/usr/bin/env bash
# Builds the image (one image, a command per service; see the Dockerfile).
#
#   deploy/container/build.sh [IMAGE]            default: clinical-briefing:latest
#
# Environment:
#   ENGINE         podman or docker (default: podman when installed, else docker)
#   BASE_IMAGE     the Python 3.11 base (default: the Dockerfile's python:3.11-slim-bookworm;
#                  deploy/container/make-base-image.sh makes one where no registry is reachable)
#   WHEELS_DIR     a folder of wheels pip may install from, mounted into the build (podman):
#                  for a machine whose pip finds torch's CPU wheel in a local folder
#   PIP_CA_FILE    a CA bundle pip must trust (a TLS-intercepting proxy), mounted likewise
#   BUILDAH_ISOLATION=chroot   podman's build isolation where namespaces are not allowed
set -euo pipefail
cd "$(dirname "$0")/../.."

image="${1:-clinical-briefing:latest}"
engine="${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
args=(build --tag "$image" --file Dockerfile)
[[ -n "${BASE_IMAGE:-}" ]] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [[ "$engine" == podman ]]; then
  args+=(--format docker)  # OCI images have no HEALTHCHECK; the docker format keeps it
  if [[ -n "${WHEELS_DIR:-}" ]]; then
    args+=(--volume "$(realpath "$WHEELS_DIR"):/run/wheels:ro" --build-arg PIP_FIND_LINKS=/run/wheels)
  fi
  if [[ -n "${PIP_CA_FILE:-}" ]]; then
    args+=(--volume "$(realpath "$PIP_CA_FILE"):/run/pip-ca.pem:ro" --build-arg PIP_CERT=/run/pip-ca.pem)
  fi
elif [[ -n "${WHEELS_DIR:-}${PIP_CA_FILE:-}" ]]; then
  echo "WHEELS_DIR and PIP_CA_FILE need podman (build-time volumes)" >&2
  exit 2
fi
set -x
"$engine" "${args[@]}" .
