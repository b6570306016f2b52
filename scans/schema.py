"""How every option class is validated: pydantic models that refuse unknown fields and are frozen
once made (study configs, scoring options, read limits, pretraining); each sets this config."""

from __future__ import annotations

from pydantic import ConfigDict

STRICT = ConfigDict(extra="forbid", frozen=True)
