"""Imports go one way (scans and pages ← models ← study ← jobs), and scoring reaches no training code:
the project's import graph, read from the source (imports inside functions included)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scans", "pages", "models", "study", "jobs")
# what each package may import from the project, besides itself
ALLOWED = {"scans": set(), "pages": set(), "models": {"scans"}, "study": {"scans", "pages", "models"},
           "jobs": {"scans", "pages", "models", "study"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


@cache
def imports_of(module: str) -> frozenset[str]:
    """The project modules ``module`` imports anywhere in its source (a from-import of a name that is
    itself a module counts as that module)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES)
    return frozenset(found)


def reachable(start: str) -> set[str]:
    """Every project module importing ``start`` loads, itself included (packages' __init__ too)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        todo.extend(imports_of(module) | {p for p in parents if p in MODULES})
    return seen


def test_the_walker_sees_imports_inside_functions():
    # jobs.cli imports each command's module only when the command runs
    assert any(m.startswith("jobs.") and m != "jobs.cli" for m in imports_of("jobs.cli"))
    assert "study.config" in reachable("jobs.study")


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_the_layers_below(package):
    wrong = {(module, imported) for module in MODULES if module.split(".")[0] == package
             for imported in imports_of(module)
             if imported.split(".")[0] not in ALLOWED[package] | {package}}
    assert not wrong, sorted(wrong)


def test_scoring_reaches_no_training_code():
    scoring = [m for m in MODULES if m.startswith("jobs.scoring")]
    assert len(scoring) > 5
    for module in scoring:
        study = sorted(m for m in reachable(module) if m.startswith("study"))
        assert not study, (module, study)


def test_every_model_pipeline_is_trained_by_the_study_and_no_other():
    from models.catalog import PIPELINES as MODEL_PIPELINES
    from study.pipelines import PIPELINES

    assert list(PIPELINES) == list(MODEL_PIPELINES)
    for name, pipeline in PIPELINES.items():
        assert isinstance(pipeline, type(MODEL_PIPELINES[name])), name  # built and run as scoring runs it


def test_every_catalogued_name_loads_what_it_names():
    from models import catalog
    from scans.registry import Registry

    registries = [value for value in vars(catalog).values() if isinstance(value, Registry)]
    assert len(registries) >= 8
    for registry in registries:
        for name in registry:
            assert registry[name] is not None, (registry.kind, name)
    for name in catalog.PIPELINES:
        declared = catalog.PIPELINES.declared(name)
        assert catalog.PIPELINES[name].item_first == declared.item_first, name


def test_a_config_validates_without_torch_or_ray():
    probe = ("import sys\nfrom study.config import load_config\n"
             "load_config('study/configs/quality.yaml')\n"
             "print(sorted(m for m in ('torch', 'torchvision', 'ray', 'segmentation_models_pytorch') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def run_files() -> tuple[str, ...]:
    """The name of every file a run writes, as models.model_dir names them."""
    from models import model_dir

    return tuple(value for name, value in vars(model_dir).items()
                 if name.isupper() and isinstance(value, str) and "." in value)


def test_one_module_names_and_writes_every_file_of_a_run():
    # every file of a run (weights, config, metrics, checkpoint state, scores, found items,
    # pretraining's weights) is named in models.model_dir alone (prose in docstrings and comments
    # aside), and it alone calls torch.save
    names = run_files()
    assert {"model.pt", "optimizer.pt", "schedule.pt", "state.json", "scores.npz", "found.npz",
            "weights.pt", "config.json", "metrics.json"} <= set(names)
    named, saving = {}, set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                named.setdefault(module, set()).add(node.value)
            torch_save = isinstance(node, ast.Attribute) and node.attr == "save"
            if torch_save and getattr(node.value, "id", "") == "torch":
                saving.add(module)
    assert set(named) == {"models.model_dir"}, named
    assert saving == {"models.model_dir"}, saving


def test_no_production_module_mentions_a_fault_drill():
    for module, path in MODULES.items():
        mentions = re.findall(r"\b(fault|drill|inject)", path.read_text().lower())  # "default" is fine
        assert not mentions, (module, mentions)
