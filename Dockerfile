# syntax=docker/dockerfile:1
# The one mlops-operator image: the operator (`run`), and the pod sub-commands `train`,
# `profile` and `serve`.
#
#   docker build -t mlops-operator:0.2.0 .           # users with Docker (python:3.11-slim)
#   make image                                       # here: buildah, local Debian base
#
# Both stages call `python3` from PATH, so the official python:3.11-slim and the local
# Debian-built stand-in (hack/image/build-base.sh, tagged with the same name) both work.
ARG BASE_IMAGE=python:3.11-slim

# --- deps: the runtime dependencies in a venv (rebuilt only when pyproject.toml changes) ---
FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/mlops/venv
WORKDIR /src
COPY pyproject.toml ./
# The optional build secret `build-ca` is a CA bundle for pip (a TLS-intercepting proxy);
# it is mounted for the RUN only and never stored in a layer.
RUN --mount=type=secret,id=build-ca \
    if [ -s /run/secrets/build-ca ]; then export PIP_CERT=/run/secrets/build-ca; fi \
 && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
 && /opt/mlops/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt
# What the runtime never needs (tests/e2e/test_image.py trains and serves with the image):
# the installers, the packages' own test suites and conformance data (onnx/backend/test),
# C/Cython sources and headers, and the kubernetes client's asyncio twin (kubernetes.aio,
# 68 MB, imported by nothing here: Kopf has its own client).
RUN site=/opt/mlops/venv/lib/python3.11/site-packages \
 && /opt/mlops/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && rm -f /opt/mlops/venv/bin/activate* \
 && find "$site" -depth -type d -name tests -path '*/site-packages/*/tests' -exec rm -rf {} + \
 && rm -rf "$site/onnx/backend/test" "$site/pyarrow/include" "$site/pyarrow/src" "$site/kubernetes/aio" \
 && find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.h' -o -name '*.hpp' -o -name '*.c' -o -name '*.cpp' \) -delete \
 && ! grep -rlq --include='*.py' -e 'kubernetes\.aio' -e 'from kubernetes import aio' "$site" \
 && mkdir -p /opt/mlops/venv/lib/native \
 && ln -s "$(ls "$site"/xgboost_cpu.libs/libgomp-*.so* | head -n 1)" /opt/mlops/venv/lib/native/libgomp.so.1 \
 && /opt/mlops/venv/bin/python -c 'import s3fs, aiobotocore'  # store.type s3 needs them in the image

# --- app: a wheel of the project, installed into that venv by a throwaway pip ---
FROM deps AS app
COPY README.md ./
COPY operator ./operator
RUN --mount=type=secret,id=build-ca \
    if [ -s /run/secrets/build-ca ]; then export PIP_CERT=/run/secrets/build-ca; fi \
 && python3 -m venv /tmp/pip \
 && /tmp/pip/bin/pip wheel --quiet --no-deps --wheel-dir /tmp/wheels . \
 && /tmp/pip/bin/pip --python /opt/mlops/venv/bin/python install --quiet --no-deps /tmp/wheels/mlops_operator-*.whl \
 && /tmp/pip/bin/pip --python /opt/mlops/venv/bin/python check \
 && site=opt/mlops/venv/lib/python3.11/site-packages \
 && cd / && mkdir /stage \
 && cp -a --parents opt/mlops/venv/bin/mlops-operator "$site"/mlops_operator "$site"/mlops_operator-*.dist-info /stage/

# --- runtime: the base and the venv, nothing else ---
FROM ${BASE_IMAGE}
RUN groupadd --gid 10001 mlops \
 && useradd --uid 10001 --gid 10001 --home-dir /home/mlops --create-home --shell /usr/sbin/nologin mlops
# Two layers: the dependencies (hundreds of MB, reused while pyproject.toml is unchanged)
# and the project itself (a few hundred kB, the only layer a code change rebuilds).
COPY --from=deps /opt/mlops/venv /opt/mlops/venv
COPY --from=app /stage/ /
# LightGBM needs libgomp.so.1, which slim bases lack: lib/native holds it as a link to the
# GNU OpenMP runtime the xgboost-cpu wheel ships (no system package, no network at build).
ENV PATH=/opt/mlops/venv/bin:$PATH \
    LD_LIBRARY_PATH=/opt/mlops/venv/lib/native \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/mlops
WORKDIR /home/mlops
# Numeric, so the kubelet can enforce runAsNonRoot (Pod Security Standard `restricted`).
USER 10001:10001
EXPOSE 8080 9090
ARG BASE_IMAGE
ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="mlops-operator" \
      org.opencontainers.image.description="Kubernetes-native MLOps operator: datasets, training, model registry, serving with rollback, drift monitoring" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
ENTRYPOINT ["mlops-operator"]
CMD ["run"]
