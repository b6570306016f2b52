"""A Ray cluster on this machine: a head and N worker nodes, each a `ray start --block` process group.

Every node runs in its own process group, so stopping this cluster never touches another Ray on the
machine (``ray stop`` would stop them all). The head takes a fresh token (token authentication) that
lives in the state directory, not in ``~/.ray``; ``env.sh`` there exports what a client needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

STATE_FILE = "cluster.json"
HOST = "127.0.0.1"
HEAD_TRIES = 3  # a port picked free can be taken before the head binds it: fresh ports, this many tries


class ClusterError(RuntimeError):
    """The local cluster could not be started, found or stopped."""


@dataclass
class NodeProcess:
    """One node: its role ("head", "worker-1", ...), the pid of its `ray start --block` process
    (which leads its process group) and its log file."""

    role: str
    pid: int
    log: str


@dataclass
class LocalCluster:
    """What `cluster up` started, saved as STATE_DIR/cluster.json."""

    state_dir: str
    port: int
    dashboard_port: int
    temp_dir: str
    token_path: str
    nodes: list[NodeProcess] = field(default_factory=list)

    @property
    def gcs_address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{HOST}:{self.dashboard_port}"

    def client_env(self) -> dict[str, str]:
        """Environment for `ray job submit`, `ray status` and drivers that join this cluster."""
        return {"RAY_ADDRESS": self.gcs_address, "RAY_API_SERVER_ADDRESS": self.dashboard_url,
                "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": self.token_path}

    def save(self) -> None:
        with open(os.path.join(self.state_dir, STATE_FILE), "w", encoding="utf-8") as f:
            json.dump(asdict(self), f, indent=2)
        with open(os.path.join(self.state_dir, "env.sh"), "w", encoding="utf-8") as f:
            f.write("# source this file to use the local DualScan Ray cluster\n")
            f.writelines(f"export {key}={value}\n" for key, value in self.client_env().items())

    @classmethod
    def load(cls, state_dir: str) -> LocalCluster:
        path = os.path.join(state_dir, STATE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ClusterError(f"no local cluster in {state_dir} (no {STATE_FILE}); "
                               "start one with `dualscan cluster up`") from None
        nodes = [NodeProcess(**node) for node in data.pop("nodes")]
        return cls(**data, nodes=nodes)


def default_state_dir() -> str:
    return os.environ.get("DUALSCAN_CLUSTER_DIR", os.path.expanduser("~/.dualscan/cluster"))


def ray_executable() -> str:
    """The `ray` script of this Python environment."""
    beside = os.path.join(os.path.dirname(sys.executable), "ray")
    found = beside if os.path.exists(beside) else shutil.which("ray")
    if found is None:
        raise ClusterError("the `ray` command is not installed in this environment")
    return found


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our exited child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def session_pids(sid: int) -> list[int]:
    """Processes of a node: its `ray start` leads a session, and Ray's worker processes keep that
    session though each leads its own process group (Linux /proc; elsewhere only the group leader)."""
    if not os.path.isdir("/proc"):
        return [sid] if _alive(sid) else []
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getsid(int(name)) == sid:
                    out.append(int(name))
            except (ProcessLookupError, PermissionError):
                continue
    return out


def _kill_session(sid: int) -> None:
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, signal.SIGKILL)


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except FileNotFoundError:
        return ""


class NodeExitedError(ClusterError):
    """A node's `ray start` exited while starting (a port taken, a bad argument, ...)."""


def _start_node(cluster: LocalCluster, role: str, args: list[str], env: dict[str, str],
                timeout_s: float, prefix: list[str] | None = None) -> NodeProcess:
    """`ray start --block ARGS` (after ``prefix``, a command that execs it) in a new process group;
    returns once the cluster lists the node alive (node_ready)."""
    log = os.path.join(cluster.state_dir, "logs", f"{role}.log")
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen([*(prefix or []), ray_executable(), "start", "--block", *args], stdout=out,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    node = NodeProcess(role, process.pid, log)
    cluster.nodes.append(node)
    cluster.save()  # from here on `down` can stop it, whatever happens next
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NodeExitedError(f"{role} exited with code {process.returncode}; its log {log}:\n"
                                  f"{_tail(log)}")
        if node_ready(cluster, role):
            return node
        time.sleep(0.5)
    raise ClusterError(f"{role} did not start within {timeout_s:.0f} s; its log {log}:\n{_tail(log)}")


def _ray_client(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess:
    """The `ray` command as a client of ``cluster`` (its address and token in the environment)."""
    env = {**os.environ, **cluster.client_env()}
    try:
        return subprocess.run([ray_executable(), *args], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(err.cmd, 124, "", "timed out")


def gcs_healthy(cluster: LocalCluster) -> bool:
    """Whether the head's GCS answers `ray health-check`."""
    return _ray_client(cluster, "health-check", "--address", cluster.gcs_address).returncode == 0


def alive_nodes(cluster: LocalCluster) -> list[str]:
    """Names of the cluster's alive nodes (each node is named by its role), from the state API of the
    head's dashboard, asked with the cluster's token; none while it does not answer."""
    from ray.util.state import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    with open(cluster.token_path, encoding="utf-8") as f:
        headers = {"Authorization": f"Bearer {f.read().strip()}"}
    try:
        client = StateApiClient(cluster.dashboard_url, headers=headers)
        alive = ListApiOptions(filters=[("state", "=", "ALIVE")], timeout=10)
        nodes = client.list(StateResource.NODES, alive, raise_on_missing_output=False)
    except Exception:  # not answering yet (connection refused, 5xx while it starts, ...)
        return []
    return [node.node_name for node in nodes]


def node_ready(cluster: LocalCluster, role: str) -> bool:
    """Whether the node ``role`` has joined: the cluster lists it alive (and for the head, its GCS
    answers `ray health-check` too)."""
    return role in alive_nodes(cluster) and (role != "head" or gcs_healthy(cluster))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _new_token(path: str) -> None:
    """A random token readable by this user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32))


def up(state_dir: str, workers: int = 1, *, head_cpus: int = 0, cpus_per_worker: int | None = None,
       gpus_per_worker: float | None = None, resources_per_worker: dict[str, float] | None = None,
       port: int | None = 6379, dashboard_port: int | None = 8265, timeout_s: float = 90.0) -> LocalCluster:
    """Start a head (dashboard and job server on 127.0.0.1) and ``workers`` worker nodes, each with
    ``resources_per_worker`` custom Ray resources besides its CPUs and GPUs.

    The head runs no work by default (``head_cpus=0``), like the launcher configs in cluster/: trials
    and scoring actors land on the workers. ``port`` or ``dashboard_port`` None: free ones. Every
    other port is bound by Ray itself, but for the Ray Client server's (Ray refuses 0 there): a head
    that exits while it starts, as when another process took a port picked here, is started again
    with fresh ports (where the ports were left to it: given ones are tried again as they are),
    HEAD_TRIES times in all. On any failure the nodes started so far are stopped.
    """
    if workers < 0:
        raise ClusterError(f"--workers must be 0 or more, got {workers}")
    os.makedirs(os.path.join(state_dir, "logs"), exist_ok=True)
    if os.path.exists(os.path.join(state_dir, STATE_FILE)):
        running = LocalCluster.load(state_dir)
        if any(_alive(node.pid) for node in running.nodes):
            raise ClusterError(f"a local cluster from {state_dir} is already up at "
                               f"{running.dashboard_url}; `dualscan cluster down` first")
        shutil.rmtree(running.temp_dir, ignore_errors=True)  # left by a cluster that died unstopped
    per_worker = cpus_per_worker
    if per_worker is None:
        per_worker = max(1, (os.cpu_count() or 1) // max(workers, 1))
    for attempt in range(1, HEAD_TRIES + 1):
        try:
            cluster, env = _start_head(state_dir, head_cpus, port, dashboard_port, timeout_s)
            break
        except NodeExitedError:  # `_start_head` has stopped it
            if attempt == HEAD_TRIES:
                raise
        except BaseException:
            down(state_dir)
            raise
    try:
        for i in range(1, workers + 1):
            role = f"worker-{i}"
            gpus = [] if gpus_per_worker is None else ["--num-gpus", str(gpus_per_worker)]
            args = ["--address", cluster.gcs_address, "--num-cpus", str(per_worker), *gpus,
                    *_resource_args(resources_per_worker), *_node_args(cluster, role)]
            _start_node(cluster, role, args, env, timeout_s)
    except BaseException:
        down(state_dir)
        raise
    return cluster


def _start_head(state_dir: str, head_cpus: int, port: int | None, dashboard_port: int | None,
                timeout_s: float) -> tuple[LocalCluster, dict[str, str]]:
    """A new cluster's head, with a fresh token; (the cluster, the environment its nodes start in).
    A head that exits while it starts is stopped and raises NodeExitedError."""
    # Ray's unix sockets need a short path: the session directory lives under the system temp dir
    cluster = LocalCluster(state_dir=os.path.abspath(state_dir), port=port or free_port(),
                           dashboard_port=dashboard_port or free_port(),
                           temp_dir=tempfile.mkdtemp(prefix="dualscan-ray-"),
                           token_path=os.path.join(os.path.abspath(state_dir), "auth_token"))
    _new_token(cluster.token_path)
    env = {**os.environ, **cluster.client_env()}
    env.pop("RAY_ADDRESS")  # the head must not try to join anything
    # `python` in a job's entrypoint is this environment's, as it would be on a cluster's image
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    try:
        # --include-dashboard true: a dashboard that cannot bind its port stops the head (else the
        # head would run on without one, and the job server would be whatever holds that port)
        _start_node(cluster, "head", ["--head", "--port", str(cluster.port), "--dashboard-host", HOST,
                                      "--dashboard-port", str(cluster.dashboard_port), "--include-dashboard",
                                      "true", "--num-cpus", str(head_cpus), "--num-gpus", "0",
                                      "--ray-client-server-port", str(free_port()),
                                      *_node_args(cluster, "head")], env, timeout_s)
    except NodeExitedError:
        down(state_dir)
        raise
    return cluster, env


def _resource_args(resources: dict[str, float] | None) -> list[str]:
    return ["--resources", json.dumps(resources)] if resources else []


def _node_args(cluster: LocalCluster, role: str) -> list[str]:
    # one temp dir per node: nodes sharing one would share (and clean up) each other's
    # runtime_env working directories
    # the agent's port 0: Ray binds a free one itself (the default, 52365, is taken by the first Ray
    # on the machine, and without its agent the head cannot accept jobs)
    # the node named by its role: readiness looks for it in the cluster's node list
    return ["--node-ip-address", HOST, "--node-name", role,
            "--temp-dir", os.path.join(cluster.temp_dir, role),
            "--dashboard-agent-listen-port", "0", "--disable-usage-stats"]


def add_worker(state_dir: str, cpus: int, *, resources: dict[str, float] | None = None,
               hide: str | None = None, timeout_s: float = 90.0) -> NodeProcess:
    """Start one more worker node of ``cpus`` CPUs (and ``resources``, custom Ray resources) in the
    cluster of ``state_dir`` (it joins while jobs run). With ``hide``, the node runs in a mount
    namespace of its own where an empty tmpfs covers that directory: a node that does not see a path
    the others see, as on a cluster without shared storage (needs `unshare` and root)."""
    cluster = LocalCluster.load(state_dir)
    role = f"worker-{len(cluster.nodes)}"
    env = {**os.environ, **cluster.client_env()}
    env.pop("RAY_ADDRESS")
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    prefix = None
    if hide is not None:
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                  'mount -t tmpfs dualscan-hidden "$0" && exec "$@"', hide]
    return _start_node(cluster, role, ["--address", cluster.gcs_address, "--num-cpus", str(cpus),
                                       *_resource_args(resources), *_node_args(cluster, role)], env,
                       timeout_s, prefix)


def stop_nodes(nodes: list[NodeProcess], grace_s: float = 10.0) -> None:
    """SIGTERM each node's `ray start` (it drains and stops its processes) all at once, wait up to
    ``grace_s``, then SIGKILL whatever is left of their sessions."""
    for node in nodes:
        if _alive(node.pid):
            os.kill(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_alive(node.pid) for node in nodes) and time.monotonic() < deadline:
        time.sleep(0.2)
    for node in nodes:
        _kill_session(node.pid)
    deadline = time.monotonic() + 5.0
    while any(session_pids(node.pid) for node in nodes) and time.monotonic() < deadline:
        time.sleep(0.1)


def down(state_dir: str, grace_s: float = 10.0) -> LocalCluster | None:
    """Stop every node (the workers, then the head) and forget the cluster; None if none was up."""
    try:
        cluster = LocalCluster.load(state_dir)
    except ClusterError:
        return None
    stop_nodes([node for node in cluster.nodes if node.role != "head"], grace_s)
    stop_nodes([node for node in cluster.nodes if node.role == "head"], grace_s)
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)
    for name in (STATE_FILE, "env.sh", "auth_token"):
        path = os.path.join(state_dir, name)
        if os.path.exists(path):
            os.remove(path)
    return cluster


def node_status(cluster: LocalCluster) -> list[tuple[NodeProcess, bool]]:
    """Each node with whether its `ray start` process is still running."""
    return [(node, _alive(node.pid)) for node in cluster.nodes]
