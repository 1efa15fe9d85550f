"""Production settings refuse to start unsafe and pass Django's deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET = "k8Jq2vN0xR4tY7uW1zA5cE9gI3mO6pS-hL_dF8bT2nV4xZ7qW0eR3yU6iO9pA1sD"


def run_manage(*args, env_overrides):
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "SECRET_KEY",
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
            "ALLOWED_HOSTS",
            "WEBSOCKET_ALLOWED_ORIGINS",
        }
    }
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "messaging_site.settings.production"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"SECRET_KEY": "django-insecure-dev-only-never-deploy-this-key-please-no-really"},
        {"SECRET_KEY": "short"},
        {"SECRET_KEY": "a" * 60},
        {"SECRET_KEY": REAL_SECRET, "DEBUG": "1"},
        {"SECRET_KEY": REAL_SECRET, "ALLOWED_HOSTS": "*"},
        {"SECRET_KEY": REAL_SECRET, "ALLOWED_HOSTS": "chat.example.com,*"},
        {
            "SECRET_KEY": REAL_SECRET,
            "ALLOWED_HOSTS": "chat.example.com",
            "WEBSOCKET_ALLOWED_ORIGINS": "*",
        },
    ],
    ids=[
        "no-secret",
        "insecure-default",
        "short",
        "low-entropy",
        "debug-on",
        "any-host",
        "any-host-in-a-list",
        "any-origin",
    ],
)
def test_production_refuses_to_start_unsafe(overrides):
    result = run_manage("check", env_overrides=overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_any_host_is_allowed_when_the_websocket_origins_are_listed():
    result = run_manage(
        "check",
        env_overrides={
            "SECRET_KEY": REAL_SECRET,
            "ALLOWED_HOSTS": "*",
            "WEBSOCKET_ALLOWED_ORIGINS": "https://chat.example.com",
        },
    )
    assert result.returncode == 0, result.stderr


def test_production_passes_the_deploy_checklist_with_a_real_secret():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_overrides={"SECRET_KEY": REAL_SECRET, "ALLOWED_HOSTS": "chat.example.com"},
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_celery_is_configured_for_at_least_once_json_work():
    from messaging_site.celery import app

    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_time_limit
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_url.startswith("redis://")
    # Tests never share a queue with a `make run` worker.
    assert conf.task_default_queue.startswith("test-")


def test_migrations_build_an_empty_database_with_the_managers_group():
    import psycopg

    name = f"migrations_check_{os.getpid()}"
    server = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "messaging_site.settings.dev",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
            "DATABASE_POOL": "off",
        }
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        check = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from django.contrib.auth.models import Group; "
                "print(*Group.objects.get(name='Campaign managers')"
                ".permissions.values_list('codename', flat=True))",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.stdout.strip().splitlines()[-1] == "send_sms", check.stderr
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
