"""How every option class is validated: pydantic models that refuse unknown fields and are frozen
once made (study configs, scoring options, read limits, pretraining); each sets this config."""

from __future__ import annotations

from pydantic import ConfigDict, ValidationError

STRICT = ConfigDict(extra="forbid", frozen=True)


def reason(err: Exception) -> str:
    """What went wrong, for a person: a validation error as ``field: message`` per error (without
    pydantic's decoration), any other error as it reads."""
    if not isinstance(err, ValidationError):
        return str(err)
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"] if not str(p).startswith(("list[", "function-")))
        message = e["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)
