"""docker-compose.yml, the Dockerfile and .env.example: valid, and in step with the Makefile.

No Docker engine runs here; `docker compose config` (or Debian's `docker-compose config`)
validates and resolves the file without one."""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ordercancel.settings import settings_from

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"


def compose_command() -> list[str]:
    for command in (["docker", "compose"], ["docker-compose"]):
        try:
            done = subprocess.run([*command, "version"], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return command
    pytest.skip(
        "neither `docker compose` nor `docker-compose` works here: install Debian's package "
        "docker-compose (`apt-get install docker-compose`) to validate docker-compose.yml"
    )


#: what a user fills in .env.example's empty required values with
FILLED = {"REDIS_PASSWORD": "0123456789abcdef0123456789abcdef"}


def compose_run(*options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`docker compose config` with .env.example's values, overridden by `env`."""
    values = {**example_env(), **FILLED, **(env or {})}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:
        env_file.write("".join(f"{k}={v}\n" for k, v in values.items()))
        env_file.flush()
        command = [*compose_command(), "--env-file", env_file.name, *options, "config"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def compose_config(*options: str, env: dict[str, str] | None = None) -> dict:
    done = compose_run(*options, env=env)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def argv(command: str | list[str]) -> list[str]:
    """A service's command as a list (docker-compose 1.x keeps a string as written)."""
    return shlex.split(command) if isinstance(command, str) else command


def test_compose_file_is_valid_and_runs_what_the_design_names():
    services = compose_config()["services"]
    always = {name for name, service in services.items() if not service.get("profiles")}
    assert always == {"redis", "worker"}  # the simulator and Flower only with their profiles
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    worker = services["worker"]
    assert Path(worker["build"]["context"]).resolve() == ROOT
    assert argv(worker["command"])[:2] == ["ordercancel", "worker"]
    password = FILLED["REDIS_PASSWORD"]
    assert worker["environment"]["ORDERCANCEL_REDIS_URL"] == f"redis://:{password}@redis:6379/0"
    assert "ORDERCANCEL_METRICS_PORT" in worker["environment"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert str(ROOT / "deploy" / "ordercancel.toml") in str(worker["volumes"])


def test_the_compose_configuration_loads_with_the_example_environment(tmp_path):
    """deploy/ordercancel.toml, with .env.example's values and a key where the compose
    secret would be, is a configuration the worker accepts."""
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "ajaib_ec.pem").write_bytes(key)
    (tmp_path / "ajaib_ec.pem").chmod(0o400)  # as the compose steps make it
    data = tomllib.loads((ROOT / "deploy" / "ordercancel.toml").read_text())
    assert data["accounts"]["ajaib-main"]["private_key"] == "file:/run/secrets/ajaib_ec_key"
    data["accounts"]["ajaib-main"]["private_key"] = f"file:{tmp_path / 'ajaib_ec.pem'}"
    settings = settings_from(data, env=example_env())
    assert {a.base_url for a in settings.accounts.values()} == {"http://sim:8089"}
    assert set(settings.accounts) == {"zebpay-main", "ajaib-main"}


def test_the_simulator_is_a_profile_the_worker_does_not_depend_on():
    services = compose_config("--profile", "sim")["services"]
    assert services["sim"]["profiles"] == ["sim"]
    assert argv(services["sim"]["command"])[:2] == ["ordercancel", "sim"]
    assert set(services["worker"]["depends_on"]) == {"redis"}


def test_redis_has_a_password_every_service_uses_and_compose_requires_it():
    services = compose_config("--profile", "sim", "--profile", "flower")["services"]
    password = FILLED["REDIS_PASSWORD"]
    command = services["redis"]["command"]
    assert command[command.index("--requirepass") + 1] == password
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == password  # the healthcheck
    for name in ("worker", "sim", "flower"):
        assert f":{password}@redis:6379" in services[name]["environment"]["ORDERCANCEL_REDIS_URL"]
    missing = compose_run(env={"REDIS_PASSWORD": ""})
    assert missing.returncode != 0 and "REDIS_PASSWORD" in missing.stderr


def test_no_weak_defaults_and_task_events_only_for_flower():
    env = example_env()
    assert env["REDIS_PASSWORD"] == "" and env["FLOWER_BASIC_AUTH"] == ""
    assert env["ORDERCANCEL_WORKER_ARGS"] == ""  # -E only with Flower
    worker = compose_config()["services"]["worker"]
    assert argv(worker["command"]) == ["ordercancel", "worker"]
    flower = compose_config("--profile", "flower")["services"]["flower"]
    assert flower["profiles"] == ["flower"]
    script = argv(flower["command"])[-1].replace("$$", "$")  # config may keep the escape
    assert 'test -n "$FLOWER_BASIC_AUTH"' in script
    assert "exec celery -A ordercancel.worker flower" in script


def test_the_services_run_as_a_user_that_can_read_the_mounted_key():
    services = compose_config("--profile", "sim", "--profile", "flower")["services"]
    for name in ("worker", "sim", "flower"):
        assert services[name]["user"] == "10001:10001"
        assert "ajaib_ec_key" in str(services[name]["secrets"])
    mine = compose_config(env={"ORDERCANCEL_UID": "1000", "ORDERCANCEL_GID": "1000"})
    assert mine["services"]["worker"]["user"] == "1000:1000"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--uid 10001" in dockerfile and "USER ordercancel" in dockerfile


def example_env() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_env_example_names_every_variable_the_compose_file_requires():
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required and required <= set(example_env())
    # what it leaves empty is what a user must choose (a password), not a weak default
    assert {k for k in required if not example_env()[k]} == set(FILLED)


def _extras(spec: str, package: str) -> set[str]:
    match = re.fullmatch(re.escape(package) + r"\[([\w,]*)\]", spec)
    assert match, f"not an install of {package} with extras: {spec}"
    return set(filter(None, match.group(1).split(",")))


def _pip(dockerfile: str, verb: str) -> str:
    """What the Dockerfile's one `pip <verb>` installs (its last argument)."""
    commands = " ".join(dockerfile.replace("\\\n", " ").splitlines())
    [spec] = re.findall(rf"pip {verb} [^&]*?'([^']+)'", commands)
    return spec


def test_dockerfile_installs_the_package_the_makefile_does_without_dev_tools():
    makefile = (ROOT / "Makefile").read_text()
    [make_extras] = re.findall(r"^EXTRAS\s*:=\s*(\S+)$", makefile, re.M)
    assert "install --quiet -e '.$(EXTRAS)'" in makefile
    wanted = _extras("." + make_extras, ".") - {"dev"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    # wheels of the project directory, then the image installs that package from them alone
    assert _extras(_pip(dockerfile, "wheel"), ".") == wanted
    assert _extras(_pip(dockerfile, "install"), "ordercancel") == wanted
    assert "--no-index" in dockerfile
    assert "COPY pyproject.toml" in dockerfile and "COPY ordercancel " in dockerfile
    # the image's Python is one pyproject.toml accepts
    images = re.findall(r"^FROM python:(\d+)\.(\d+)", dockerfile, re.M)
    [floor] = re.findall(
        r'requires-python = ">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text()
    )
    assert images and all(tuple(map(int, i)) >= tuple(map(int, floor)) for i in images)
