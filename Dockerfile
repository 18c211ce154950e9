# One image for every service of compose.yaml: `provision` installed from a wheel.
# Stage 1 builds the wheel in a writable copy of the sources; stage 2 installs only the
# wheel, so the image holds no source tree and nothing is ever built at container start.
# (tests/deploy/test_image.py runs these steps from a read-only copy of the sources.)
FROM python:3.11-slim AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY broker_config ./broker_config
COPY producers ./producers
COPY workers ./workers
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 provision \
    && mkdir /targets /access /keys /public \
    && chown provision /targets /access /keys /public && chmod 0700 /access /keys
USER provision
WORKDIR /home/provision
ENTRYPOINT ["provision"]
CMD ["--help"]
