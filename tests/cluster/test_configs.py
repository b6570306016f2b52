"""Cluster files as an SRE would deploy them: launchers valid against the installed Ray's own schema
and config preparation, with token authentication, separate head and worker identities, one pinned
image and the GPU driver awaited; KubeRay manifests with authentication, results storage that binds
and outlives the clusters, requests that fit their nodes; the image built from the project's one
dependency list; and every entry point a module whose parser accepts its flags."""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shlex
import tomllib

import pytest
import ray
import yaml

from jobs.commands import COMMANDS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.path.join(REPO, "cluster")
LAUNCHERS = ["aws-gpu.yaml", "gcp-gpu.yaml"]
RAYJOBS = ["kuberay/rayjob-study.yaml", "kuberay/rayjob-score.yaml"]
KUBERAY = ["kuberay/raycluster.yaml", *RAYJOBS]
STORAGE = "kuberay/results-storage.yaml"
GIB = 2**30
# What a node of each GPU type the manifests select can give pods (CPU cores, memory bytes): the
# kernel's view of its memory less the kubelet's reserve and eviction threshold, as EKS's AMI
# (kube-reserved 255 MiB + 11 MiB per pod, 58 pods on a g5.2xlarge; 90 m CPU) and GKE (its tiered
# memory reserve, 3.6 GiB of 32; 90 m CPU) compute them. Daemon sets take some of it, so requests
# stay well below.
EXTRACTION = ("import tomllib; print(chr(10).join(tomllib.load(open('/tmp/dualscan/pyproject.toml', "
              "'rb'))['project']['dependencies']))")
ALLOCATABLE = {
    ("node.kubernetes.io/instance-type", "g5.2xlarge"): (7.91, 30.0 * GIB),
    ("cloud.google.com/gke-accelerator", "nvidia-l4"): (7.91, 28.0 * GIB),  # g2-standard-8
}


def _load_all(name: str) -> list[dict]:
    with open(os.path.join(CLUSTER, name), encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def _version() -> str:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["version"]


def _quantity(value) -> float:
    """A Kubernetes quantity (``"7"``, ``500m``, ``24Gi``) as a number."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# ---------------------------------------------------------------- launchers


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_configs_pass_rays_own_schema_and_preparation(name):
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    (config,) = _load_all(name)
    schema = os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json")
    with open(schema, encoding="utf-8") as f:
        jsonschema.validate(config, json.load(f))  # the file as written
    prepared = prepare_config(copy.deepcopy(config))  # Ray's defaults merged in, as `ray up` does
    validate_config(prepared)
    assert prepared["head_node_type"] == "head"
    head = config["available_node_types"]["head"]
    assert head["resources"].get("CPU") == 0  # the head runs drivers only
    workers = {n: t for n, t in config["available_node_types"].items() if t["resources"].get("GPU")}
    assert workers and any(t["max_workers"] >= 1 for t in workers.values())


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launchers_run_one_pinned_image_with_token_auth_and_nothing_installed_at_boot(name):
    (config,) = _load_all(name)
    docker = config["docker"]
    assert docker["image"].endswith(f"/dualscan:{_version()}"), docker["image"]
    assert "--env RAY_AUTH_MODE=token" in docker["run_options"]  # every process of every node
    assert not any("--shm-size" in o for o in docker["run_options"])  # Ray sizes shm to its store
    assert config["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}  # the token to every node
    assert not config["setup_commands"] and "rsync_exclude" not in config  # code travels by runtime_env
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start  # reached through `ray dashboard`'s tunnel
    for node_type in config["available_node_types"].values():
        node = node_type["node_config"]
        if config["provider"]["type"] == "aws":
            assert node["ImageId"].startswith("ami-"), "Ray's default AMI is an end-of-life Ubuntu 18.04"
        else:
            image = node["disks"][0]["initializeParams"]["sourceImage"]
            assert "/images/family/" not in image  # an image, not a family that moves under it


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launchers_give_the_head_and_the_workers_their_own_identity(name):
    (config,) = _load_all(name)
    types = config["available_node_types"]

    def identity(node_type: dict) -> str:
        node = node_type["node_config"]
        return node["IamInstanceProfile"]["Name"] if "IamInstanceProfile" in node else \
            node["serviceAccounts"][0]["email"]

    head = identity(types["head"])
    workers = {identity(t) for n, t in types.items() if n != "head"}
    assert len(workers) == 1 and head not in workers
    assert "head" in head and "worker" in next(iter(workers))


def test_the_aws_policies_give_the_head_launch_rights_and_the_workers_the_bucket_only():
    def actions(name: str) -> set[str]:
        with open(os.path.join(CLUSTER, "iam", name), encoding="utf-8") as f:
            policy = json.load(f)
        return {a for s in policy["Statement"] for a in
                ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    head, worker = actions("aws-head-policy.json"), actions("aws-worker-policy.json")
    assert {"ec2:RunInstances", "ec2:TerminateInstances", "iam:PassRole"} <= head
    assert {"s3:GetObject", "s3:PutObject"} <= head & worker
    assert all(a.startswith("s3:") for a in worker)
    with open(os.path.join(CLUSTER, "iam", "aws-head-policy.json"), encoding="utf-8") as f:
        passes = [s for s in json.load(f)["Statement"] if "iam:PassRole" in s["Action"]]
    assert all("dualscan-ray-worker" in r for s in passes for r in s["Resource"])  # no role but the workers'
    (gcp,) = _load_all("iam/gcp-roles.yaml")
    assert "roles/compute.instanceAdmin.v1" in gcp["head"]["project"] and "project" not in gcp["worker"]


def test_gcp_gpu_workers_wait_for_the_driver_and_both_clouds_offer_spot_workers():
    (gcp,) = _load_all("gcp-gpu.yaml")
    for name, node_type in gcp["available_node_types"].items():
        if node_type["resources"].get("GPU"):
            assert any("nvidia-smi" in c for c in node_type["initialization_commands"]), name
    assert any(s.get("provisioningModel") == "SPOT" for t in gcp["available_node_types"].values()
               for s in t["node_config"].get("scheduling", []))
    (aws,) = _load_all("aws-gpu.yaml")
    assert any(t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"
               for t in aws["available_node_types"].values())


# ---------------------------------------------------------------- KubeRay


def _cluster_specs() -> list[tuple[str, dict]]:
    specs = []
    for name in KUBERAY:
        for doc in _load_all(name):
            if doc["kind"] == "RayCluster":
                specs.append((name, doc["spec"]))
            elif doc["kind"] == "RayJob":
                specs.append((name, doc["spec"]["rayClusterSpec"]))
    return specs


def _pods(spec: dict) -> list[tuple[str, dict]]:
    return [("head", spec["headGroupSpec"]["template"]["spec"]),
            *((g["groupName"], g["template"]["spec"]) for g in spec["workerGroupSpecs"])]


@pytest.mark.parametrize("name,spec", _cluster_specs(), ids=lambda v: v if isinstance(v, str) else "")
def test_kuberay_clusters_authenticate_and_use_the_results_volume_and_identity(name, spec):
    assert spec["rayVersion"] == ray.__version__
    assert spec["authOptions"] == {"mode": "token"}
    (storage_account,) = [d["metadata"]["name"] for d in _load_all(STORAGE) if d["kind"] == "ServiceAccount"]
    (claim,) = [d["metadata"]["name"] for d in _load_all(STORAGE) if d["kind"] == "PersistentVolumeClaim"]
    for group, pod in _pods(spec):
        assert pod["serviceAccountName"] == storage_account, f"{name} {group}: no object-store identity"
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == [claim], f"{name} {group}"
        ray_container = pod["containers"][0]
        assert any(m["mountPath"] == "/results" for m in ray_container["volumeMounts"])
        for container in pod["containers"]:
            assert container["image"].endswith(f"/dualscan:{_version()}"), container["image"]
        # Ray's logs reach the results volume, so they outlive the cluster and its TTL
        sidecar = next(c for c in pod["containers"][1:] if "/results/logs" in " ".join(c.get("args", [])))
        logs = {m["mountPath"]: m["name"] for m in ray_container["volumeMounts"]}
        assert logs["/tmp/ray"] in {m["name"] for m in sidecar["volumeMounts"]}


@pytest.mark.parametrize("name,spec", _cluster_specs(), ids=lambda v: v if isinstance(v, str) else "")
def test_kuberay_gpu_workers_select_gpu_nodes_and_ask_for_less_than_they_can_give(name, spec):
    gpu_groups = [g for g in spec["workerGroupSpecs"]
                  if g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu")]
    assert gpu_groups, f"{name}: no worker group asks for nvidia.com/gpu"
    for group in gpu_groups:
        pod = group["template"]["spec"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        ((label, value),) = pod["nodeSelector"].items()
        cpus, memory = ALLOCATABLE[(label, value)]
        asked = [c["resources"]["requests"] for c in pod["containers"]]
        assert sum(_quantity(r["cpu"]) for r in asked) < cpus - 0.5, f"{name}: CPU requests {asked}"
        assert sum(_quantity(r["memory"]) for r in asked) < memory - 2 * GIB, f"{name}: memory requests"
        shm = next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]
        ray_memory = _quantity(pod["containers"][0]["resources"]["limits"]["memory"])
        assert _quantity(shm["sizeLimit"]) >= 0.3 * ray_memory  # holds Ray's default object store


def test_the_results_claim_binds_on_a_shared_class_outlives_everything_and_lives_alone():
    docs = {d["kind"]: d for d in _load_all(STORAGE)}
    claim, storage_class = docs["PersistentVolumeClaim"], docs["StorageClass"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == storage_class["metadata"]["name"]
    assert storage_class["reclaimPolicy"] == "Retain"
    assert storage_class["provisioner"] in {"efs.csi.aws.com", "filestore.csi.storage.gke.io",
                                            "file.csi.azure.com", "nfs.csi.k8s.io"}
    account = docs["ServiceAccount"]["metadata"]["annotations"]
    assert "eks.amazonaws.com/role-arn" in account and "iam.gke.io/gcp-service-account" in account
    for name in KUBERAY:  # deleting a cluster's or a job's file never deletes the results
        assert {d["kind"] for d in _load_all(name)} <= {"RayCluster", "RayJob"}, name


@pytest.mark.parametrize("name", RAYJOBS)
def test_rayjob_entry_points_are_modules_that_accept_their_flags(name):
    (job,) = _load_all(name)
    spec = job["spec"]
    assert job["apiVersion"] == "ray.io/v1" and spec["shutdownAfterJobFinishes"] is True
    assert spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert re.match(r"(s3|gs)://.+\.zip$", runtime_env["working_dir"])  # the code, by runtime_env only
    assert runtime_env["env_vars"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["python", "-m"] and argv[2] in {c.module for c in COMMANDS.values()}
    module = importlib.import_module(argv[2])
    module.get_args_parser().parse_args(argv[3:])  # exits (SystemExit) on an unknown or bad flag


# ---------------------------------------------------------------- the image and the runtime env


def test_the_image_installs_the_projects_dependencies_from_their_one_list():
    with open(os.path.join(CLUSTER, "Dockerfile"), encoding="utf-8") as f:
        dockerfile = f.read()
    assert re.search(rf"^FROM rayproject/ray:{re.escape(ray.__version__)}-py311-gpu$", dockerfile, re.M)
    snippet = re.search(r'python -c "(.+?)" >', dockerfile).group(1)
    assert "pyproject.toml" in snippet and "['project']['dependencies']" in snippet
    names = re.findall(r"pip install[^\n]*", dockerfile)
    assert names and all(re.fullmatch(r"pip install --no-cache-dir -r \S+ *\\?", n.strip()) for n in names)
    # the one source: the list is read from pyproject.toml inside the build, never written out
    assert snippet == EXTRACTION, snippet
    assert "COPY --chown=ray:users pyproject.toml" in dockerfile
    assert not re.search(r"^COPY .*\b(scans|models|study|jobs|pages)\b", dockerfile, re.M)  # no code


def test_runtime_env_ships_the_checkout_without_venv_or_data():
    (env,) = _load_all("runtime_env.yaml")
    assert env["working_dir"] == "."
    assert {".venv/", "out/", "*.npz"} <= set(env["excludes"])
    assert not any("KEY" in k or "SECRET" in k or "TOKEN" in k for k in env["env_vars"])
