"""A Ray cluster of several nodes on this machine, for tests, benchmarks and trying the deployment.

Each node is its own ``ray start --block`` process (its own raylet, object store and workers), the head with
the GCS; every node gets ``cpus_per_node`` logical CPUs, a small object store and no dashboard. Every process
of the cluster carries ``R1_RAY_CLUSTER=<temp dir>`` in its environment, so ``leftovers()`` finds any that
outlived ``stop()``, wherever it was re-parented. ``stop()`` signals only this cluster's processes: ``ray
stop`` would stop every Ray process of the machine, other users' clusters included. The temp dir (Ray's
session, logs and sockets) is removed after a clean stop, unless ``R1_KEEP_RAY_LOGS`` is set.

All nodes share 127.0.0.1, so their Serve proxies share the HTTP port (SO_REUSEPORT): the kernel spreads
connections over them, as a load balancer in front of a real cluster's nodes would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from verifier.local import free_port

MARKER_ENV = "R1_RAY_CLUSTER"


def _ray_command() -> list[str]:
    script = Path(sys.executable).with_name("ray")
    if script.exists():
        return [str(script)]
    found = shutil.which("ray")
    if found is None:
        raise FileNotFoundError("the `ray` command is not installed (the `ray` extra: pip install 'r1-verifier[ray]')")
    return [found]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it, now."""
    tree, found, todo = _children(), [root], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class LocalNode:
    name: str
    process: subprocess.Popen[bytes]

    def kill(self) -> list[int]:
        """SIGKILL the node's every process at once (a machine lost); returns the pids killed."""
        pids = process_tree(self.process.pid)
        _signal_all(pids, signal.SIGKILL)
        self.process.wait()
        return pids


@dataclass
class LocalRayCluster:
    workers: int = 2
    cpus_per_node: int = 1
    object_store_mb: int = 128
    env: Mapping[str, str] = field(default_factory=dict)
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="r1ray-")))
    nodes: list[LocalNode] = field(default_factory=list)
    address: str = ""

    def start(self, timeout_s: float = 120.0) -> LocalRayCluster:
        """Start the head, then the workers; returns once all nodes are alive in the GCS."""

        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout_s: float) -> None:
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self._node("head", ["--head", f"--port={port}", f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
                            f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}"])  # fmt: skip
        # One node at a time: on a small machine, nodes started together time out registering with the GCS.
        self._wait_for_nodes(1, timeout_s, connect=True)
        for n in range(self.workers):
            self._node(f"worker-{n + 1}", [f"--address={self.address}"])
            self._wait_for_nodes(n + 2, timeout_s)

    def _wait_for_nodes(self, count: int, timeout_s: float, connect: bool = False) -> None:
        import ray

        deadline = time.monotonic() + timeout_s
        while True:
            self._check_running()
            if connect and not ray.is_initialized():
                with contextlib.suppress(ConnectionError):
                    ray.init(address=self.address, log_to_driver=False)
            if ray.is_initialized() and sum(node["Alive"] for node in ray.nodes()) >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster at {self.address} did not reach {count} nodes in {timeout_s:.0f} s")
            time.sleep(0.5)

    def _node(self, name: str, args: list[str]) -> None:
        command = [
            *_ray_command(), "start", "--block", *args, "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus_per_node}", "--num-gpus=0", f"--object-store-memory={self.object_store_mb * 2**20}",
            "--disable-usage-stats", f"--dashboard-agent-listen-port={free_port()}",
        ]  # fmt: skip
        env = {**os.environ, **self.env, MARKER_ENV: str(self.temp_dir), "RAY_TMPDIR": str(self.temp_dir)}
        with (self.temp_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.nodes.append(LocalNode(name, process))

    def _check_running(self) -> None:
        for node in self.nodes:
            if node.process.poll() is not None:
                log = (self.temp_dir / f"{node.name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"ray node {node.name} exited with status {node.process.returncode}:\n{log}")

    def node_ids(self) -> list[str]:
        """The GCS ids of the nodes alive now."""
        import ray

        return [node["NodeID"] for node in ray.nodes() if node["Alive"]]

    def stop(self, timeout_s: float = 10.0) -> list[int]:
        """Stop every node (SIGTERM to its whole process tree, SIGKILL after ``timeout_s``); returns the pids of
        this cluster's processes still alive afterwards (none, when all went well). As ``ray stop``: its GCS
        and raylets may ignore SIGTERM while their peers are going, hence the SIGKILL."""
        import ray

        ray.shutdown()
        pids = [pid for node in reversed(self.nodes) for pid in process_tree(node.process.pid)]
        pids += [pid for pid in self.leftovers() if pid not in pids]
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.5)
        _signal_all(self.leftovers(), signal.SIGKILL)
        for node in self.nodes:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
        time.sleep(0.5)
        left = self.leftovers()
        if not left and not os.environ.get("R1_KEEP_RAY_LOGS"):
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return left

    def leftovers(self) -> list[int]:
        """Pids of live processes started by this cluster (found by the marker in their environment)."""
        marker = f"{MARKER_ENV}={self.temp_dir}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker in environ.split(b"\0") and state != "Z":
                found.append(int(entry))
        return found
