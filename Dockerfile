# twinrank serving image: the FastAPI ranking service over a bundle, without torch.
#
#   docker build --target serve-cpu -t twinrank:cpu .
#   docker build --target serve-gpu -t twinrank:gpu .          # onnxruntime-gpu + faiss on GPU
#   docker run -p 8000:8000 -v "$PWD/bundles:/bundles:ro" -e TWINRANK_ADMIN_TOKEN=... twinrank:cpu
#
# Bundles are mounted, not baked in: build one with `twinrank index build` (or `make serve` once locally); the
# image carries the shipped student, e.g.
#   docker run -v "$PWD:/data" twinrank:cpu twinrank index build --catalog /data/ads.jsonl --bundles /data/bundles

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

# ---- build: a wheel of the project (no compilers needed at run time) -----------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY common ./common
COPY service ./service
COPY offline ./offline
COPY models ./models
COPY load_tests ./load_tests
RUN pip install --no-cache-dir --upgrade pip build && python -m build --wheel --outdir /wheels .

# ---- CPU runtime: onnxruntime + faiss-cpu, no torch ----------------------------------------------
FROM ${PYTHON_IMAGE} AS serve-cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TWINRANK_BUNDLES=/bundles TWINRANK_LOG_FORMAT=json
RUN useradd --create-home --uid 10001 twinrank
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir "$(ls /wheels/twinrank-*.whl)[serve]" && rm -rf /wheels
# The shipped student, so `twinrank index build --catalog ... --bundles /bundles` needs no --model in the image.
COPY shipped /opt/twinrank/shipped
ENV TWINRANK_MODEL=/opt/twinrank/shipped/twinbert-de
USER twinrank
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["twinrank", "serve", "--bundles", "/bundles", "--host", "0.0.0.0", "--port", "8000"]

# ---- GPU runtime: onnxruntime-gpu (CUDA provider) + faiss GPU build, still no torch -------------------
FROM ${CUDA_IMAGE} AS serve-gpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TWINRANK_BUNDLES=/bundles TWINRANK_DEVICE=auto TWINRANK_LOG_FORMAT=json
RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip \
    && rm -rf /var/lib/apt/lists/* && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN useradd --create-home --uid 10001 twinrank
COPY --from=build /wheels /wheels
# The `gpu` extra carries onnxruntime-gpu and faiss-gpu in place of the CPU builds.
RUN pip install --no-cache-dir "$(ls /wheels/twinrank-*.whl)[gpu]" && rm -rf /wheels
COPY shipped /opt/twinrank/shipped
ENV TWINRANK_MODEL=/opt/twinrank/shipped/twinbert-de
USER twinrank
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["twinrank", "serve", "--bundles", "/bundles", "--host", "0.0.0.0", "--port", "8000"]
