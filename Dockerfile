# One image for web (Daphne), worker and beat (Celery); they differ only in their command.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=messaging_site.settings.production

WORKDIR /app
# libmagic: upload types are read from their bytes (chat/uploads.py).
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 app && mkdir -p /data/uploads /data/metrics \
    && chown app /data/uploads /data/metrics

COPY pyproject.toml README.md ./
COPY messaging_site ./messaging_site
COPY accounts ./accounts
COPY chat ./chat
COPY boards ./boards
COPY campaigns ./campaigns
COPY web ./web
RUN pip install .

COPY . .
# collectstatic needs settings that load; this throwaway key never serves a request.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --no-input

USER app
EXPOSE 8000
# WEB_PROCESSES Daphne processes (default 2, one per core) on SO_REUSEPORT sockets of one
# address: scripts/serve.py.
ENV HOST=0.0.0.0 PORT=8000 WEB_PROCESSES=2 PROXY_HEADERS=1
CMD ["python", "scripts/serve.py"]
