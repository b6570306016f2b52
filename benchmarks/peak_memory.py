"""Peak resident memory of one step in this process, read from /proc/self (Linux)."""

from __future__ import annotations


def proc_status(field: str) -> int:
    """A /proc/self/status size (VmRSS, VmHWM, ...) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> int:
    """Reset VmHWM to the current resident set; returns that resident set in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return proc_status("VmRSS")


def peak_since(before: int) -> int:
    """Bytes the peak resident set rose above ``before`` (reset_peak's value)."""
    return proc_status("VmHWM") - before
