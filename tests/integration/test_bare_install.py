"""`pip install .` with no extras gives a working worker: the wheel, built and installed into a
clean virtual environment, runs `ordercancel up --sim`, and a producer with nothing but the
Redis URL cancels an order there, checked at the venue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from ordercancel.sim.admin import SimAdmin

ROOT = Path(__file__).parents[2]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ORDERCANCEL_", "PYTHON"))}


@pytest.mark.timeout(900)
def test_the_wheel_without_extras_runs_a_worker_and_a_producer(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    [wheel] = dist.glob("ordercancel-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    bin_ = tmp_path / "venv" / "bin"
    subprocess.run(
        [bin_ / "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=600,
        capture_output=True,
        env=clean_env(),
    )
    version = subprocess.run([bin_ / "ordercancel", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("ordercancel ")

    up = subprocess.Popen(
        [bin_ / "ordercancel", "up", "--sim"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: dict[str, str] = {}
        assert up.stdout is not None
        for line in up.stdout:  # `up` prints its parts, then "worker ready"
            word, _, rest = line.partition(" ")
            lines.setdefault(word, rest.strip())
            if word == "worker":
                break
        assert "worker" in lines, f"`ordercancel up --sim` did not start: {lines}"
        admin = SimAdmin(lines["simulator"])
        [oid] = admin.seed("zebpay", "zebpay-main", [{"symbol": "BTCUSDT"}])
        producer = subprocess.run(
            [bin_ / "ordercancel", "cancel", "zebpay-main", oid, "--symbol", "BTCUSDT",
             "--wait", "60"],
            env={**clean_env(), "ORDERCANCEL_REDIS_URL": lines["redis"]},
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
        assert producer.returncode == 0, producer.stdout + producer.stderr
        status = {o["clientOrderId"]: o["status"] for o in admin.orders("zebpay", "zebpay-main")}
        assert status[oid] == "canceled"
        workdir = Path(lines["config"].partition("=")[2]).parent
        assert workdir.is_dir()
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
        if up.stdout is not None:
            up.stdout.close()
    assert not workdir.exists(), "the stack's temporary folder outlived `ordercancel up`"
