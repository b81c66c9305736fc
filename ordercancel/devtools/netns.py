"""Hosts on one machine: Linux network namespaces on one bridge, for the multi-host drill.

`Lab` builds, as root, with `ip` and (inside namespaces only) `iptables`:

    root namespace ──veth── lan: bridge ──veth── each host: eth0 10.231.K.N/24
                                   └──veth── gw: eth0 10.231.K.1, eth1 10.232.K.1 (NAT)
                                                  └──veth── venue: eth0 10.232.K.2

Every host reaches the venue through `gw`, which masquerades: the venue sees one client address,
`gw`'s, as when every worker host sits behind one NAT. The root namespace has one address on
the bridge (10.231.K.254) and a route to the venue, both gone with its veth. Every iptables rule
lives inside a namespace and dies with it, so tearing the lab down is killing the processes in
its namespaces and deleting them; a lab whose creator died (SIGKILL) is removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ordercancel.errors import OrderCancelError

PREFIX = "ocd"


class LabError(OrderCancelError):
    """The lab could not be built (not root, a tool missing, a command refused)."""


def missing() -> str | None:
    """Why a lab cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (apt-get install iproute2 iptables)"
    return None


def run(*argv: str, ns: str | None = None, check: bool = True) -> str:
    cmd = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def namespaces() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]


def pids_in(ns: str) -> list[int]:
    return [int(p) for p in run("ip", "netns", "pids", ns, check=False).split()]


def remove(ns: str) -> None:
    """Kill every process in `ns`, then delete it (its veths and rules go with it)."""
    for _ in range(50):
        pids = pids_in(ns)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    run("ip", "netns", "del", ns, check=False)


def _stale(owner: str) -> bool:
    """A lab of `ocd<owner>` whose creator is gone (or is this process: one lab at a time,
    so one left over from a reused pid)."""
    return owner.isdigit() and (int(owner) == os.getpid() or not Path(f"/proc/{owner}").exists())


def remove_stale() -> None:
    """Labs whose creator is gone: their namespaces `ocd<pid>-...` and the root namespace's
    veths `ocd<pid>...` (the drill's own end, or a pair not yet moved)."""
    for ns in namespaces():
        if ns.startswith(PREFIX) and _stale(ns[len(PREFIX) :].split("-", 1)[0]):
            remove(ns)
    for line in run("ip", "-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(PREFIX) and _stale(name[len(PREFIX) :].rstrip("ab")):
            run("ip", "link", "del", name, check=False)


class Lab:
    """`with Lab(["redis1", "w1", ...]) as lab:` one namespace per host name."""

    def __init__(self, hosts: Sequence[str]):
        pid = os.getpid()
        self.tag = f"{PREFIX}{pid}"
        k = pid % 250 + 1
        self.lan, self.wan = f"10.231.{k}", f"10.232.{k}"
        #: host name -> its address on the bridge
        self.addr = {name: f"{self.lan}.{10 + i}" for i, name in enumerate(hosts)}
        self.venue_addr = f"{self.wan}.2"
        #: the one address the venue sees every host's calls from
        self.nat_addr = f"{self.wan}.1"
        self._made: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def ns(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def __enter__(self) -> Lab:
        why = missing()
        if why:
            raise LabError(why)
        remove_stale()
        # should this process be SIGKILLed, the reaper sees its pipe close and tears down
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "ordercancel.devtools.netns", self.tag],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _netns(self, name: str) -> str:
        ns = self.ns(name)
        run("ip", "netns", "add", ns)
        self._made.append(ns)
        run("ip", "link", "set", "lo", "up", ns=ns)
        return ns

    def _link(self, a_ns: str | None, a_if: str, b_ns: str, b_if: str) -> None:
        """A veth pair: `a_if` in `a_ns` (None: the root namespace), `b_if` in `b_ns`."""
        tmp_a, tmp_b = f"{self.tag}a", f"{self.tag}b"
        run("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        for tmp, ns, name in ((tmp_a, a_ns, a_if), (tmp_b, b_ns, b_if)):
            if ns:
                run("ip", "link", "set", tmp, "netns", ns)
            run("ip", "link", "set", tmp, "name", name, ns=ns)
            run("ip", "link", "set", name, "up", ns=ns)

    def _build(self) -> None:
        lan = self._netns("lan")
        run("ip", "link", "add", "br0", "type", "bridge", ns=lan)
        run("ip", "link", "set", "br0", "up", ns=lan)

        def on_bridge(ns: str | None, ifname: str, addr: str) -> None:
            port = f"p{len(self._made)}" if ns else "proot"
            self._link(ns, ifname, lan, port)
            run("ip", "link", "set", port, "master", "br0", ns=lan)
            run("ip", "addr", "add", f"{addr}/24", "dev", ifname, ns=ns)

        gw, venue = self._netns("gw"), self._netns("venue")
        on_bridge(gw, "eth0", f"{self.lan}.1")
        self._link(gw, "eth1", venue, "eth0")
        run("ip", "addr", "add", f"{self.nat_addr}/24", "dev", "eth1", ns=gw)
        run("ip", "addr", "add", f"{self.venue_addr}/24", "dev", "eth0", ns=venue)
        run("ip", "route", "add", f"{self.lan}.0/24", "via", self.nat_addr, ns=venue)
        run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=gw)
        run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth1", "-j", "MASQUERADE", ns=gw)
        for name, addr in self.addr.items():
            ns = self._netns(name)
            on_bridge(ns, "eth0", addr)
            run("ip", "route", "add", f"{self.wan}.0/24", "via", f"{self.lan}.1", ns=ns)
        # the drill itself, in the root namespace: on the bridge, and a route to the venue
        self.root_if = self.tag
        on_bridge(None, self.root_if, f"{self.lan}.254")
        run("ip", "route", "add", f"{self.wan}.0/24", "via", f"{self.lan}.1")

    # -- processes ---------------------------------------------------------------------------

    def spawn(
        self,
        host: str,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` on `host` (its own session), output to `log`."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(host), *argv],
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def kill_host(self, host: str) -> int:
        """SIGKILL every process on `host` (the host dies); how many there were."""
        pids = pids_in(self.ns(host))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def partition(self, host: str, peers: Sequence[str], *, heal: bool = False) -> None:
        """Drop every packet between `host` and `peers`, all rules at once (`iptables-restore`:
        one command); `heal` removes them."""
        rules = ["*filter"]
        if not heal:
            for peer in peers:
                rules += [f"-A OUTPUT -d {self.addr[peer]} -j DROP",
                          f"-A INPUT -s {self.addr[peer]} -j DROP"]  # fmt: skip
        rules.append("COMMIT\n")
        cmd = ["ip", "netns", "exec", self.ns(host), "iptables-restore"]
        done = subprocess.run(cmd, input="\n".join(rules), capture_output=True, text=True)
        if done.returncode != 0:
            raise LabError(f"iptables-restore on {host}: {done.stderr.strip()}")

    def close(self) -> None:
        """Tear down; SIGINT, SIGTERM and SIGHUP wait until it is done."""
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        old = [signal.signal(sig, signal.SIG_IGN) for sig in signals]
        try:
            self._close()
        finally:
            for sig, handler in zip(signals, old, strict=True):
                signal.signal(sig, handler)

    def _close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        if self._made:  # the namespaces, the root end (with its route), a pair not yet moved
            reap(self.tag)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self._made.clear()
        reaper = getattr(self, "_reaper", None)
        if reaper is not None and reaper.stdin is not None and not reaper.stdin.closed:
            reaper.stdin.close()  # nothing left for it: let it go
            with contextlib.suppress(subprocess.TimeoutExpired):
                reaper.wait(30)


def reap(tag: str) -> None:
    """Remove what the lab `tag` left: every namespace `tag-*` and its root veths."""
    for ns in namespaces():
        if ns.startswith(f"{tag}-"):
            remove(ns)
    for name in (tag, f"{tag}a", f"{tag}b"):
        run("ip", "link", "del", name, check=False)


if __name__ == "__main__":  # the reaper: waits for its lab's creator to close the pipe, or die
    sys.stdin.buffer.read()
    reap(sys.argv[1])
