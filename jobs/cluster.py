"""Entry point: `dualscan cluster up|down|status|env`, a Ray cluster on this machine for rehearsals."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from jobs.local_cluster import ClusterError, LocalCluster, default_state_dir, down, node_status, up


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the cluster command."""
    parser = argparse.ArgumentParser(
        "dualscan cluster", add_help=add_help,
        description=summary_of("cluster"))
    parser.add_argument("action", choices=("up", "down", "status", "env"),
                        help="up: start it; down: stop it; status: its nodes; env: the client exports")
    parser.add_argument("--workers", type=int, default=1, help="worker nodes (up; default 1)")
    parser.add_argument("--cpus-per-worker", type=int,
                        help="logical CPUs per worker node (default: this machine's cores / workers)")
    parser.add_argument("--gpus-per-worker", type=float,
                        help="GPUs per worker node (default: Ray detects them on each)")
    parser.add_argument("--head-cpus", type=int, default=0,
                        help="CPUs the head offers to work (default 0: work runs on the workers)")
    parser.add_argument("--port", type=int, default=6379, help="head (GCS) port (default 6379)")
    parser.add_argument("--dashboard-port", type=int, default=8265,
                        help="dashboard and job server port on 127.0.0.1 (default 8265)")
    parser.add_argument("--state-dir", default=default_state_dir(),
                        help="where the token, logs and cluster.json live "
                             "(default $DUALSCAN_CLUSTER_DIR or ~/.dualscan/cluster)")
    return parser


def _print_up(cluster: LocalCluster) -> None:
    workers = len(cluster.nodes) - 1
    print(f"Ray cluster up: head + {workers} worker node{'s' * (workers != 1)} on 127.0.0.1")
    print(f"  dashboard and job server  {cluster.dashboard_url}")
    print(f"  token (keep it private)   {cluster.token_path}")
    print(f"  logs                      {cluster.state_dir}/logs/")
    print("Use it from this shell:")
    print(f"  source {cluster.state_dir}/env.sh")
    print("  ray job submit --runtime-env cluster/runtime_env.yaml -- "
          "python -m jobs.study --config study/configs/smoke.yaml")
    print("Stop it: dualscan cluster down")


def main(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
            _print_up(up(args.state_dir, args.workers, head_cpus=args.head_cpus,
                         cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                         port=args.port, dashboard_port=args.dashboard_port))
        elif args.action == "down":
            stopped = down(args.state_dir)
            print("no local cluster was up" if stopped is None else
                  f"stopped {len(stopped.nodes)} node(s) of the cluster at {stopped.dashboard_url}")
        elif args.action == "status":
            cluster = LocalCluster.load(args.state_dir)
            print(f"{cluster.dashboard_url} (GCS {cluster.gcs_address})")
            for node, alive in node_status(cluster):
                print(f"  {node.role:<10} pid {node.pid:<8} {'running' if alive else 'stopped'}  {node.log}")
        else:
            for key, value in LocalCluster.load(args.state_dir).client_env().items():
                print(f"export {key}={value}")
    except ClusterError as err:
        print(f"dualscan cluster {args.action}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
