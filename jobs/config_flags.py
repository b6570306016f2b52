"""The flags `dualscan train` and `dualscan study` share to see and change a configuration:
``--set KEY=VALUE`` for any dotted key, ``--print-config`` for the resolved configuration."""

from __future__ import annotations

import argparse

import yaml

from study.config import ConfigError, StudyConfig


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """``--set`` (repeatable) and ``--print-config`` on ``parser``."""
    parser.add_argument("--set", dest="set_values", action="append", default=[], metavar="KEY=VALUE",
                        help="set any config key, dotted (recipe.steps=3000, space.k=[200,300], "
                             "items.classes=false); the value is read as YAML; repeatable; applied "
                             "after the config file and the other flags; `dualscan config-schema` "
                             "lists the keys")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration (the file, the flags and --set) as YAML "
                             "and exit without running")


def set_overrides(values: list[str]) -> dict:
    """Dotted config keys of ``--set KEY=VALUE`` pairs, each value read as YAML (safe_load, never
    executed: ``3000`` an int, ``1.0e-3`` a float, ``[a, b]`` a list, ``false`` a bool); ConfigError
    naming the pair that is not one."""
    out = {}
    for pair in values:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE with a dotted key, e.g. recipe.steps=3000")
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {key}: {text!r} is not a YAML value ({err})") from None
    return out


def config_yaml(config: StudyConfig) -> str:
    """The resolved configuration as YAML, in the schema's order, every default filled in: what
    `--print-config` prints and a config file may hold."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
