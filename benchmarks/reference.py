"""The repository at an earlier revision, checked out beside this one: what start-up benchmarks
compare against in fresh interpreters."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def checkout_at(revision: str) -> Iterator[str]:
    """A detached git worktree of ``revision`` in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "reference")
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", old, revision], check=True,
                       capture_output=True)
        try:
            yield old
        finally:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", old], check=False)
