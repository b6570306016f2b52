"""Configurations a person can see and change: --set, --print-config, the JSON Schema, the key list."""

from __future__ import annotations

import glob
import os
import re

import jsonschema
import pytest
import yaml

from jobs.cli import main
from jobs.config_flags import config_yaml, set_overrides
from study.config import ConfigError, load_config, parse_config
from study.config_keys import config_keys, config_schema, key_table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = sorted(glob.glob(os.path.join(REPO, "study", "configs", "*.yaml")))
QUALITY = os.path.join(REPO, "study", "configs", "quality.yaml")


def test_set_values_are_read_as_yaml():
    assert set_overrides(["recipe.steps=3000", "space.k=[200, 300]", "items.classes=false",
                          "space.lr=[1.0e-3]", "name=run-2"]) == {
        "recipe.steps": 3000, "space.k": [200, 300], "items.classes": False, "space.lr": [1e-3],
        "name": "run-2"}


@pytest.mark.parametrize("pair", ["recipe.steps", "=3", "recipe..steps=3", "space.k=[1, 2"])
def test_a_set_that_is_not_key_equals_value_is_refused_naming_it(pair):
    with pytest.raises(ConfigError, match=re.escape("--set")):
        set_overrides([pair])


def test_print_config_shows_the_file_with_the_flags_and_sets_over_it(capsys):
    assert main(["train", "--config", QUALITY, "--data", "/archives/a", "--set", "recipe.steps=7",
                 "--set", "space.k=[200]", "--set", "recipe.augment.rotate=false", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["recipe"]["steps"] == 7 and printed["space"]["k"] == [200]
    assert printed["recipe"]["augment"] == {"rotate": False, "gain": 0.05, "noise": 0.01, "mask_px": 2}
    assert printed["data"]["archive"] == "/archives/a" and printed["items"]["steps"] == 12000  # the file's


def test_study_prints_its_config_without_starting_ray(capsys):
    smoke = os.path.join(REPO, "study", "configs", "smoke.yaml")
    assert main(["study", "--config", smoke, "--storage", "/runs", "--data", "/archives/a",
                 "--set", "search.num_samples=3", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["search"]["num_samples"] == 3 and printed["storage"] == "/runs"


def test_a_rehearsal_keeps_the_gpu_share_set(capsys):
    paper = os.path.join(REPO, "study", "configs", "paper.yaml")
    assert main(["study", "--config", paper, "--storage", "/runs", "--data", "/archives/a", "--smoke",
                 "--set", "resources.gpu=0.5", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["resources"]["gpu"] == 0.5


@pytest.mark.parametrize(("pair", "named"), [
    ("recipe.stepz=5", "recipe.stepz"),  # a misspelt key
    ("recipe.steps=many", "recipe.steps"),  # a value of the wrong type
    ("space.k.low=3", "space.k"),  # a key under a value that is not a section
    ("space.lam=[1.0e-4]", "space.lam"),  # a knob that cannot act (plain SLIC learns nothing)
])
def test_a_wrong_set_is_refused_naming_the_key(pair, named, capsys):
    assert main(["train", "--config", QUALITY, "--data", "/archives/a", "--set", pair, "--print-config"]) == 2
    assert named in capsys.readouterr().err


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_a_printed_config_loads_back_as_itself(path):
    config = load_config(path, {"data.archive": "/archives/a"})
    assert parse_config(yaml.safe_load(config_yaml(config))) == config


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_the_schema_takes_every_shipped_config(path):
    with open(path, encoding="utf-8") as f:
        jsonschema.validate(yaml.safe_load(f), config_schema())


def test_the_schema_refuses_a_misspelt_key():
    with open(QUALITY, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    data["recipe"]["stepz"] = data["recipe"].pop("steps")
    with pytest.raises(jsonschema.ValidationError, match="stepz"):
        jsonschema.validate(data, config_schema())


def test_the_command_writes_the_schema_and_the_key_list(tmp_path, capsys):
    out = tmp_path / "schema.json"
    assert main(["config-schema", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == config_schema()
    assert main(["config-schema", "--keys"]) == 0
    assert capsys.readouterr().out.strip().endswith(key_table().splitlines()[-1])


def test_the_docs_key_list_is_the_schemas_and_the_prose_names_every_key():
    with open(os.path.join(REPO, "docs", "configuration.md"), encoding="utf-8") as f:
        doc = f.read()
    block = re.search(r"<!-- keys: begin -->\n(.*?)\n<!-- keys: end -->", doc, re.S)
    assert block and block.group(1) == key_table(), "regenerate it: dualscan config-schema --keys"
    rows = dict(re.findall(r"^\| `?([a-z ]+?)`? \| (.*)$", doc.split("## Keys")[1].split("##")[0], re.M))
    for key, _, _ in config_keys():
        *section, leaf = key.split(".")
        assert f"`{leaf}`" in rows[section[0] if section else "top level"], f"{key} is not in the Keys table"
