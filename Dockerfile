# One image for the three services; the command picks the service.
#   docker build -t clinical-briefing .
# torch is installed first and alone so that pip keeps the CPU build: pass the index that serves
# CPU wheels in your environment with --build-arg TORCH_PIP_ARGS="--index-url <url>".
FROM python:3.11-slim
ARG TORCH_PIP_ARGS=""
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
RUN pip install --no-cache-dir ${TORCH_PIP_ARGS} torch==2.13.0
COPY pyproject.toml README.md ./
COPY gen gen
COPY services services
RUN pip install --no-cache-dir . \
 && python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)"
COPY data data
USER 1000:1000
CMD ["python", "-m", "services.embedder"]
