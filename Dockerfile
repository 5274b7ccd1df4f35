# One image for every Pushflow process; the command picks the role (see deploy/compose and
# deploy/k8s). Build from the repository root: docker build -t pushflow .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY pushflow pushflow
COPY domain domain
COPY producer producer
COPY workers workers
COPY shared shared
COPY sandbox sandbox
# The versions CI tested (constraints.txt; docs/operations.md, "Locked versions").
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt . \
    && cp constraints.txt /wheels/

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/pushflow --create-home pushflow
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index -c /wheels/constraints.txt /wheels/*.whl \
    && rm -rf /wheels
USER 10001
WORKDIR /var/lib/pushflow
# Containers listen on every interface and log JSON; PROMETHEUS_MULTIPROC_DIR is set per role
# where a process has several workers (see deploy/compose/docker-compose.yml).
ENV PYTHONUNBUFFERED=1 \
    PUSHFLOW_API_HOST=0.0.0.0 \
    PUSHFLOW_METRICS_HOST=0.0.0.0 \
    PUSHFLOW_LOG_JSON=true \
    PUSHFLOW_DATA_DIR=/var/lib/pushflow
EXPOSE 8080 9100
CMD ["pushflow", "api", "--host", "0.0.0.0", "--port", "8080"]
