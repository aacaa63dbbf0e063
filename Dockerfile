# The production image: gunicorn for the web, the same image for the Celery worker and beat
# (docker-compose.yml). Static files are collected at build time and served by whitenoise.

# Front-end packages from npm (package-lock.json), built in a stage of their own.
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint's libraries (Pango, HarfBuzz subsetting) and the fonts for the PDFs: every name a school
# will have (the Makefile's DEBIAN_PACKAGES lists the same).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core \
        fonts-noto-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Runtime packages only: everything above the "# Tests and tooling" line of requirements.txt.
COPY requirements.txt ./
RUN grep -q '^# Tests and tooling' requirements.txt \
    && sed '/^# Tests and tooling/,$d' requirements.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

COPY . .
COPY --from=assets /app/node_modules ./node_modules

# Collected with the production storage (hashed, compressed names). The key only lets settings load
# with DEBUG off for this one command; the running container needs its own SECRET_KEY.
RUN DEBUG=0 SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --noinput --verbosity 0

RUN useradd --system --uid 1000 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/var/private /app/var/celery \
    && chown -R app:app /app/var
USER app

ENV DEBUG=0 \
    PRIVATE_ROOT=/app/var/private
EXPOSE 8000

# gunicorn's worker count and timeout, set here rather than left to its defaults (issue 14): 2 sync workers
# (about two per CPU core; more cores, more workers: docker-compose.yml's `command` overrides this), and a
# request still running after 30 s is killed and its worker restarted, so one slow page cannot hold a
# worker for long. Every page answers well inside it; long work (PDFs, exports) runs in Celery.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--timeout", "30", "--graceful-timeout", "30", "--access-logfile", "-"]
