"""docker-compose.yml, the Dockerfile and .env.example: valid, and in step with the Makefile.

No Docker engine runs here; `docker compose config` (or Debian's `docker-compose config`)
validates and resolves the file without one."""

from __future__ import annotations

import re
import shlex
import subprocess
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


def compose_config(*options: str) -> dict:
    command = [*compose_command(), "--env-file", str(ENV_EXAMPLE), *options, "config"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def argv(command: str | list[str]) -> list[str]:
    """A service's command as a list (docker-compose 1.x keeps a string as written)."""
    return shlex.split(command) if isinstance(command, str) else command


def test_compose_file_is_valid_and_runs_what_the_design_names():
    services = compose_config()["services"]
    always = {name for name, service in services.items() if not service.get("profiles")}
    assert always == {"redis", "worker", "sim"}  # Flower only with its profile
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    worker = services["worker"]
    assert Path(worker["build"]["context"]).resolve() == ROOT
    assert argv(worker["command"])[:2] == ["ordercancel", "worker"]
    assert worker["environment"]["ORDERCANCEL_REDIS_URL"] == "redis://redis:6379/0"
    assert "ORDERCANCEL_METRICS_PORT" in worker["environment"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert argv(services["sim"]["command"])[:2] == ["ordercancel", "sim"]
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
    data = tomllib.loads((ROOT / "deploy" / "ordercancel.toml").read_text())
    assert data["accounts"]["ajaib-main"]["private_key"] == "file:/run/secrets/ajaib_ec_key"
    data["accounts"]["ajaib-main"]["private_key"] = f"file:{tmp_path / 'ajaib_ec.pem'}"
    settings = settings_from(data, env=example_env())
    assert {a.base_url for a in settings.accounts.values()} == {"http://sim:8089"}
    assert set(settings.accounts) == {"zebpay-main", "ajaib-main"}


def test_flower_is_an_optional_profile():
    services = compose_config("--profile", "flower")["services"]
    flower = services["flower"]
    assert flower["profiles"] == ["flower"]
    assert argv(flower["command"])[:4] == ["celery", "-A", "ordercancel.worker", "flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"]


def example_env() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_env_example_sets_every_variable_the_compose_file_requires():
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required and required <= {k for k, v in example_env().items() if v}


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
