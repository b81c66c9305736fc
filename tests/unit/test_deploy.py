"""docker-compose.yml, deploy/compose-sentinel.yml, the Dockerfile and .env.example: valid, and
in step with the Makefile and with each other.

No Docker engine runs here; `docker compose config` (or Debian's `docker-compose config`)
validates and resolves the file without one."""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ordercancel.settings import settings_from

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE_FILE = ROOT / "docker-compose.yml"
SENTINEL_FILE = ROOT / "deploy" / "compose-sentinel.yml"


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
FILLED = {
    "REDIS_PASSWORD": "0123456789abcdef0123456789abcdef",
    "SENTINEL_PASSWORD": "fedcba9876543210fedcba9876543210",
}


def compose_run(
    *options: str, env: dict[str, str] | None = None, file: Path = COMPOSE_FILE
) -> subprocess.CompletedProcess:
    """`docker compose -f FILE config` from the repository root, with .env.example's values
    overridden by `env`."""
    values = {**example_env(), **FILLED, **(env or {})}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:
        env_file.write("".join(f"{k}={v}\n" for k, v in values.items()))
        env_file.flush()
        files = ["-f", str(file.relative_to(ROOT))]
        command = [*compose_command(), "--env-file", env_file.name, *files, *options, "config"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def compose_config(
    *options: str, env: dict[str, str] | None = None, file: Path = COMPOSE_FILE
) -> dict:
    done = compose_run(*options, env=env, file=file)
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


def test_env_example_names_every_variable_the_compose_files_require():
    env, left_empty = example_env(), set()
    for file in (COMPOSE_FILE, SENTINEL_FILE):
        required = set(re.findall(r"\$\{(\w+):\?", file.read_text()))
        assert required and required <= set(env), file.name
        left_empty |= {k for k in required if not env[k]}
    # what it leaves empty is what a user must choose (a password), not a weak default
    assert left_empty == set(FILLED)


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


# deploy/compose-sentinel.yml: a primary, two replicas, three sentinels and the worker on them

SERVERS = ("redis-primary", "redis-replica", "redis-replica-2")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


def _script(service: dict) -> str:
    """The script of a service that runs `sh -c SCRIPT`, with Compose's `$$` unescaped."""
    command = argv(service["command"])
    assert command[:2] == ["sh", "-c"]
    return command[2].replace("$$", "$")


def _lines(script: str) -> set[str]:
    return {line.strip() for line in script.splitlines()}


def test_the_sentinel_variant_authenticates_everywhere_with_a_quorum_of_two():
    """The file as written (no compose needed)."""
    services = yaml.safe_load(SENTINEL_FILE.read_text())["services"]
    always = {name for name, service in services.items() if not service.get("profiles")}
    assert always == {*SERVERS, *SENTINELS, "worker"}
    for name in SERVERS:
        server, script = services[name], _script(services[name])
        assert server["image"].startswith("redis:7")
        for option in (
            "--appendonly yes --maxmemory-policy noeviction",
            '--requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD"',
            "--min-replicas-to-write 1 --min-replicas-max-lag 10",
            '--replica-announce-ip "$ANNOUNCE_HOST"',
        ):
            assert option in script, (name, option)
        env = server["environment"]
        assert env["ANNOUNCE_HOST"] == name
        assert env["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
        assert env["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")  # the healthcheck's
    assert not services["redis-primary"]["environment"]["FIRST_ROLE"]
    assert services["redis-replica"]["environment"]["FIRST_ROLE"] == "replicaof redis-primary 6379"
    for name in SENTINELS:
        sentinel, script = services[name], _script(services[name])
        assert sentinel["image"].startswith("redis:7")
        [monitor] = re.findall(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", script, re.M)
        assert monitor == ("ordercancel", "redis-primary", "6379", "2")  # quorum: 2 of 3
        assert {
            "sentinel resolve-hostnames yes",
            "sentinel announce-hostnames yes",
            "sentinel announce-ip $ANNOUNCE_HOST",
            "sentinel down-after-milliseconds ordercancel 5000",
            "sentinel failover-timeout ordercancel 60000",
        } <= _lines(script)
        # the sentinels' own password, and the servers' (auth-pass), set on every start
        assert r"printf 'requirepass %s\nsentinel auth-pass ordercancel %s\n'" in script
        assert '"$SENTINEL_PASSWORD" "$REDIS_PASSWORD" >> "$conf"' in script
        assert script.rstrip().endswith('exec docker-entrypoint.sh redis-server "$conf" --sentinel')
        env = sentinel["environment"]
        assert env["ANNOUNCE_HOST"] == name
        assert env["SENTINEL_PASSWORD"].startswith("${SENTINEL_PASSWORD:?")
        assert env["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
        assert env["REDISCLI_AUTH"].startswith("${SENTINEL_PASSWORD:?")  # the healthcheck's
    for name in ("worker", "sim"):
        url = services[name]["environment"]["ORDERCANCEL_REDIS_URL"]
        assert url.startswith("redis+sentinel://:${REDIS_PASSWORD:?")
        assert "?sentinel_password=${SENTINEL_PASSWORD:?" in url


def test_the_sentinel_variant_runs_the_worker_as_docker_compose_yml_does():
    """Same image, user, secrets, command and variables but the URL; the same files, named
    relative to each compose file's folder."""
    files = (COMPOSE_FILE, SENTINEL_FILE)
    main, variant = (yaml.safe_load(file.read_text()) for file in files)

    def path(file: Path, name: str) -> Path:
        return (file.parent / name).resolve()

    for name in ("worker", "sim"):
        theirs, ours = main["services"][name], variant["services"][name]
        for key in ("image", "init", "user", "command", "ports", "secrets", "profiles",
                    "stop_grace_period", "restart"):  # fmt: skip
            assert ours.get(key) == theirs.get(key), (name, key)
        assert path(SENTINEL_FILE, ours["build"]) == path(COMPOSE_FILE, theirs["build"]) == ROOT
        env = [{k: v for k, v in s["environment"].items() if k != "ORDERCANCEL_REDIS_URL"}
               for s in (theirs, ours)]  # fmt: skip
        assert env[0] == env[1]
        [(their_host, their_mount)] = [v.split(":", 1) for v in theirs["volumes"]]
        [(our_host, our_mount)] = [v.split(":", 1) for v in ours["volumes"]]
        assert path(SENTINEL_FILE, our_host) == path(COMPOSE_FILE, their_host)
        assert our_mount == their_mount
    [theirs, ours] = [m["secrets"]["ajaib_ec_key"]["file"] for m in (main, variant)]
    assert path(SENTINEL_FILE, ours) == path(COMPOSE_FILE, theirs)


def test_the_sentinel_variant_validates_and_its_worker_names_the_sentinels_and_the_master():
    config = compose_config("--profile", "sim", file=SENTINEL_FILE)
    services = config["services"]
    worker = services["worker"]
    assert Path(worker["build"]["context"]).resolve() == ROOT
    assert str(ROOT / "deploy" / "ordercancel.toml") in str(worker["volumes"])
    assert Path(config["secrets"]["ajaib_ec_key"]["file"]) == ROOT / "deploy/secrets/ajaib_ec.pem"
    url = worker["environment"]["ORDERCANCEL_REDIS_URL"]
    assert services["sim"]["environment"]["ORDERCANCEL_REDIS_URL"] == url
    parts = urlsplit(url)
    assert parts.scheme == "redis+sentinel"
    assert parts.username in (None, "") and parts.password == FILLED["REDIS_PASSWORD"]
    assert parts.netloc.rpartition("@")[2].split(",") == [f"{s}:26379" for s in SENTINELS]
    assert parts.path == "/ordercancel/0"  # the master the sentinels monitor, database 0
    assert parse_qs(parts.query) == {"sentinel_password": [FILLED["SENTINEL_PASSWORD"]]}
    assert "sentinel monitor ordercancel redis-primary 6379 2" in _lines(
        _script(services["sentinel-1"])
    )
    # a URL the worker accepts
    assert settings_from({}, env={"ORDERCANCEL_REDIS_URL": url}).redis_url == url
    # it starts once a replica is linked (the primary refuses writes before) and the sentinels run
    assert set(worker["depends_on"]) == {"redis-replica", *SENTINELS}
    assert {d["condition"] for d in worker["depends_on"].values()} == {"service_healthy"}
    assert argv(worker["command"]) == ["ordercancel", "worker"]
    assert worker["user"] == "10001:10001"


def test_each_redis_server_has_min_replicas_to_write_and_compose_requires_the_passwords():
    services = compose_config(file=SENTINEL_FILE)["services"]
    password, sentinel_password = FILLED["REDIS_PASSWORD"], FILLED["SENTINEL_PASSWORD"]
    for name in SERVERS:
        script = _script(services[name])
        assert "--min-replicas-to-write 1 --min-replicas-max-lag 10" in script
        assert '--requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD"' in script
        assert services[name]["environment"]["REDIS_PASSWORD"] == password
        assert services[name]["environment"]["REDISCLI_AUTH"] == password
    for name in SENTINELS:
        env = services[name]["environment"]
        assert env["SENTINEL_PASSWORD"] == sentinel_password == env["REDISCLI_AUTH"]
        assert env["REDIS_PASSWORD"] == password
    for variable in ("REDIS_PASSWORD", "SENTINEL_PASSWORD"):
        missing = compose_run(env={variable: ""}, file=SENTINEL_FILE)
        assert missing.returncode != 0 and variable in missing.stderr
    assert example_env()["SENTINEL_PASSWORD"] == ""  # no weak default
