# The service image: the verifier (`verifier serve`) and the code-execution service (`sandbox serve`).
#
# Multi-stage: the build stage installs the project into a virtual environment; the runtime stage is the base
# image plus Python, bubblewrap and g++ (for the sandbox's C++ programs) and that environment, run as a non-root
# user. No registry is reachable in CI, so the base image is a build argument: scripts/docker-setup.sh builds
# r1-verifier/debian:<suite> locally with debootstrap; anywhere else debian:bookworm-slim works as well.
#   docker build --network host --build-arg BASE_IMAGE=r1-verifier/debian:bookworm -t r1-verifier/service .
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
# Optional CA bundle and wheels (see deploy/build-extra/README.md).
COPY deploy/build-extra/ /tmp/extra/
COPY pyproject.toml README.md /src/
COPY verifier /src/verifier
COPY sandbox /src/sandbox
COPY r1_failover /src/r1_failover
COPY trainer /src/trainer
COPY plugins /src/plugins
RUN set -eu; \
    if [ -f /tmp/extra/ca-certificates.crt ]; then export PIP_CERT=/tmp/extra/ca-certificates.crt; fi; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --find-links /tmp/extra/wheels /src \
    && /opt/venv/bin/python -c "import verifier, sandbox, verifier_math, verifier_code, verifier_language"

FROM ${BASE_IMAGE}
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 bubblewrap g++ util-linux \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
COPY --from=build /opt/venv /opt/venv
RUN groupadd --system --gid 10001 verifier \
    && useradd --system --uid 10001 --gid verifier --home-dir /var/lib/verifier --create-home verifier \
    && mkdir -p /var/cache/verifier && chown verifier:verifier /var/cache/verifier
ENV PATH=/opt/venv/bin:$PATH LANG=C.UTF-8 PYTHONUNBUFFERED=1 HOME=/var/lib/verifier \
    XDG_CACHE_HOME=/var/cache/verifier
USER verifier
WORKDIR /var/lib/verifier
EXPOSE 8000 8090
CMD ["verifier", "serve", "--host", "0.0.0.0"]
