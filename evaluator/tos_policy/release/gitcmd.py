"""Every git command the evaluator runs, run so that it executes nothing the
repository configures.

A repository under review is untrusted: its .git/config (or a global or system
config, or the caller's GIT_* environment) can name commands that git runs as a side
effect of reading: core.fsmonitor on any index refresh, clean/smudge filters on
`diff` against the working tree and on `archive`, textconv and external diff
drivers, a pager. The evaluator only reads, so every such command is switched off
on the command line (`-c`, which outranks every config file), the named filter and
diff drivers are listed first (reading config runs nothing) and each is emptied,
and git gets a clean environment without the caller's GIT_* variables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Settings whose value is a command git may run while reading, each switched off.
_NEUTRAL = (
    "core.fsmonitor=",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.askPass=",
    "core.sshCommand=",
    "core.gitProxy=",
    "core.alternateRefsCommand=",
    "credential.helper=",
    "diff.external=",
    "gpg.program=false",
    "log.showSignature=false",
    "protocol.allow=never",
    "uploadpack.packObjectsHook=",
)
# Per-driver keys (filter.NAME.KEY, diff.NAME.KEY) that name a command.
_DRIVER_KEYS = {"filter": ("clean", "smudge", "process"), "diff": ("textconv", "command")}


def safe_environment() -> dict[str, str]:
    """The caller's environment less every GIT_* variable (GIT_DIR, GIT_EXTERNAL_DIFF,
    GIT_CONFIG_PARAMETERS, GIT_SSH_COMMAND...), with system config and prompts off."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_ATTR_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_PAGER="cat",
    )
    return env


def _base(repo: Path) -> list[str]:
    command = ["git", "-C", str(repo)]
    for setting in _NEUTRAL:
        command += ["-c", setting]
    return command


def _driver_overrides(repo: Path, env: dict[str, str]) -> list[str]:
    """`-c` settings that empty every filter and diff driver the configuration names."""
    done = subprocess.run(
        [*_base(repo), "config", "--null", "--name-only", "--get-regexp", r"^(filter|diff)\..+\.[^.]+$"],
        capture_output=True,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    overrides: list[str] = []
    drivers: set[tuple[str, str]] = set()
    for key in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        section, _, rest = key.partition(".")
        name, _, _ = rest.rpartition(".")
        if section in _DRIVER_KEYS and name:
            drivers.add((section, name))
    for section, name in sorted(drivers):
        overrides += [arg for key in _DRIVER_KEYS[section] for arg in ("-c", f"{section}.{name}.{key}=")]
        if section == "filter":
            overrides += ["-c", f"filter.{name}.required=false"]
    return overrides


def run_git(repo: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `git -C repo ARGS` with nothing configured executed; output captured, never raises on failure.
    `stdin`, when given, is what git reads (`cat-file --batch`); otherwise it reads nothing.

    FileNotFoundError when git is not installed."""
    env = safe_environment()
    command = [*_base(repo), *_driver_overrides(repo, env), *args]
    if stdin is not None:
        return subprocess.run(command, capture_output=True, check=False, env=env, input=stdin)
    return subprocess.run(command, capture_output=True, check=False, env=env, stdin=subprocess.DEVNULL)
