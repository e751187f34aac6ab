"""Phrases the findings share: who may write a file, who this process is."""

from __future__ import annotations

import os
import stat

#: The mode bits that let someone other than the owner replace a file or a directory's entries.
GROUP_OR_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def writers(mode: int) -> str:
    """``"its group"``, ``"others"`` or ``"its group and others"`` for a mode's write bits."""
    bits = ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "others"))
    who = [label for bit, label in bits if mode & bit]
    return " and ".join(who)


def mode_text(mode: int) -> str:
    """The permission bits in octal, as ``chmod`` takes them (``0640``)."""
    return f"{stat.S_IMODE(mode):04o}"


def process_user() -> str:
    """``uid 1000 (gid 1000)``: who this process runs as, where the platform says."""
    if hasattr(os, "geteuid"):
        return f"uid {os.geteuid()} (gid {os.getegid()})"
    return "this process's user"
