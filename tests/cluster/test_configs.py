"""Cluster files: launcher YAMLs valid against the schema inside the installed Ray, KubeRay manifests
complete, and every entry point a module whose parser accepts its flags."""

from __future__ import annotations

import importlib
import json
import os
import shlex

import pytest
import ray
import yaml

from jobs.commands import COMMANDS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.path.join(REPO, "cluster")
LAUNCHERS = ["aws-gpu.yaml", "gcp-gpu.yaml"]
RAYJOBS = ["kuberay/rayjob-study.yaml", "kuberay/rayjob-score.yaml"]


def _load_all(name: str) -> list[dict]:
    with open(os.path.join(CLUSTER, name), encoding="utf-8") as f:
        return list(yaml.safe_load_all(f))


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_configs_follow_rays_schema(name):
    import jsonschema

    schema_file = os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json")
    with open(schema_file, encoding="utf-8") as f:
        schema = json.load(f)
    (config,) = _load_all(name)
    jsonschema.validate(config, schema)
    assert config["docker"]["image"].startswith(f"rayproject/ray:{ray.__version__}-")
    workers = [t for t in config["available_node_types"].values() if t["resources"].get("GPU")]
    assert workers and all(t["max_workers"] >= 1 for t in workers)
    assert config["available_node_types"][config["head_node_type"]]["resources"].get("CPU") == 0
    assert any("pip install" in c for c in config["setup_commands"])


def _ray_cluster_specs() -> list[tuple[str, dict]]:
    specs = [("kuberay/raycluster.yaml", next(d for d in _load_all("kuberay/raycluster.yaml")
                                              if d["kind"] == "RayCluster")["spec"])]
    for name in RAYJOBS:
        job = next(d for d in _load_all(name) if d["kind"] == "RayJob")
        specs.append((name, job["spec"]["rayClusterSpec"]))
    return specs


@pytest.mark.parametrize("name,spec", _ray_cluster_specs(), ids=lambda v: v if isinstance(v, str) else "")
def test_kuberay_clusters_have_a_head_and_a_gpu_group_on_shared_storage(name, spec):
    assert spec["rayVersion"] == ray.__version__
    head = spec["headGroupSpec"]
    assert "rayStartParams" in head and head["template"]["spec"]["containers"][0]["image"]
    groups = spec["workerGroupSpecs"]
    gpu = [g for g in groups
           if g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu")]
    assert gpu, f"{name}: no worker group asks for nvidia.com/gpu"
    for group in gpu:
        assert {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams"} <= set(group)
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert any(t["key"] == "nvidia.com/gpu" for t in group["template"]["spec"]["tolerations"])
    for pod in [head, *groups]:
        mounts = pod["template"]["spec"]["containers"][0]["volumeMounts"]
        assert any(m["mountPath"] == "/results" for m in mounts), f"{name}: a pod without /results"


@pytest.mark.parametrize("name", RAYJOBS)
def test_rayjob_entry_points_are_modules_that_accept_their_flags(name):
    job = next(d for d in _load_all(name) if d["kind"] == "RayJob")
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert job["apiVersion"] == "ray.io/v1" and yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["python", "-m"] and argv[2] in {c.module for c in COMMANDS.values()}
    module = importlib.import_module(argv[2])
    module.get_args_parser().parse_args(argv[3:])  # exits (SystemExit) on an unknown or bad flag


def test_runtime_env_ships_the_checkout_without_venv_or_data():
    (env,) = _load_all("runtime_env.yaml")
    assert env["working_dir"] == "."
    assert {".venv/", "out/", "*.npz"} <= set(env["excludes"])
    assert not any("KEY" in k or "SECRET" in k or "TOKEN" in k for k in env["env_vars"])
