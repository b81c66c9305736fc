# The ordercancel image: the worker, the simulator, the CLI and Flower (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ordercancel ./ordercancel
# The package `make` installs (the Makefile's EXTRAS), without the dev tools; the test
# tests/unit/test_deploy.py keeps the two in step.
RUN pip install '.[bench,flower]' && rm -rf /src

RUN useradd --system --create-home --uid 10001 ordercancel
USER ordercancel
WORKDIR /home/ordercancel
# 9464: metrics (ORDERCANCEL_METRICS_PORT), 8089: simulator, 5555: Flower
EXPOSE 9464 8089 5555
CMD ["ordercancel", "worker"]
