"""The rules as they were at a git revision, read from git without a checkout.

One job: give the rest of the evaluator the `rules/` and `schemas/` trees of any
revision (a commit, branch or tag; a policy version `policy-vX.Y.Z`, found from
the manifests in the history; the rules in force on a date), or of the working
tree, and the facts about a change between two of them (merge base, changed
files, a file's text). A revision's tree is materialised into a temporary
directory with `git archive` and loaded with load_rules, its data validated
against that revision's schemas. The working tree (WORKTREE) is read in place,
uncommitted and untracked files included, so a rule can be checked before it
is committed."""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tos_policy import jsonio
from tos_policy.errors import InputError
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.gitcmd import run_git
from tos_policy.resources import schemas_from

WORKTREE = "WORKTREE"  # the working tree, as a revision name
TRACKED = ("rules", "schemas")  # the folders a policy revision consists of
MAIN_BRANCHES = ("main", "origin/main")
# A revision that names a policy version: found from each commit's rules/manifest.json,
# never from a tag (tags do not travel with a clone), so every clone reads the same rules.
VERSION_REF = re.compile(r"^policy-v(\d+\.\d+\.\d+)$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Where a released version's last state is not the newest commit carrying it (work for the next
# version was committed under it before the version moved), the commit it was released at.
LEDGER = "policy-releases.json"
# Versions that never were a commit of this history (released before it began), reconstructed:
# ARCHIVE/<version>/rules and ARCHIVE/<version>/schemas, read from HEAD.
ARCHIVE = "policy-archive"


class GitError(InputError):
    """A git command failed: not a repository, an unknown revision. Exit code 2."""


def _git(repo: Path, *args: str, what: str, stdin: bytes | None = None) -> bytes:
    """Every git call goes through here, and so through run_git: nothing the repository configures runs."""
    try:
        done = run_git(repo, *args, stdin=stdin)
    except FileNotFoundError:
        raise GitError("git is not installed", file="git", value=what) from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed", file=str(repo), value=what)
    return done.stdout


def repo_root(start: str | Path = ".") -> Path:
    """The top of the git working tree that contains `start`."""
    try:
        top = _git(Path(start), "rev-parse", "--show-toplevel", what=str(start))
    except GitError:
        raise GitError(
            "not inside a git repository: run this from inside your clone of the tos-policy repository",
            file=str(start),
            value=str(start),
        ) from None
    return Path(top.decode().strip())


def resolve(repo: Path, rev: str) -> str:
    """The commit id `rev` names (a commit, branch or tag; policy-vX.Y.Z: the newest commit whose
    manifest carries that version), or WORKTREE itself."""
    if rev == WORKTREE:
        return WORKTREE
    if VERSION_REF.match(rev):
        return version_commit(repo, rev)
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", what=rev).decode().strip()
    except GitError:
        raise GitError("no such git revision (commit, branch or tag)", file=str(repo), value=rev) from None


@dataclass(frozen=True, slots=True)
class Release:
    """A policy version as the history holds it."""

    version: str
    effective_date: date | None  # None: not recorded (an archived version before every dated one)
    commit: str  # its last state: the ledger's commit, else the newest commit whose manifest carries it
    root: str = ""  # where its rules/ and schemas/ are in that commit: "" (the top), or ARCHIVE/<version>

    @property
    def order(self) -> tuple[date, tuple[int, ...]]:
        """Later effective date first; on one day, the higher version supersedes the lower."""
        return self.effective_date or date.min, tuple(int(part) for part in self.version.split("."))


def _blobs(repo: Path, names: list[str]) -> list[bytes | None]:
    """The contents of `commit:path` names, in one `git cat-file --batch` (None where missing)."""
    if not names:
        return []
    out = _git(repo, "cat-file", "--batch", what="cat-file", stdin="".join(f"{name}\n" for name in names).encode())
    found: list[bytes | None] = []
    position = 0
    for _ in names:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        position = end + 1
        if len(header) != 3 or header[1] != b"blob":  # "<name> missing", or not a file
            found.append(None)
            continue
        size = int(header[2])
        found.append(out[position : position + size])
        position += size + 1  # the content, then a newline
    return found


def _manifest_version(text: bytes | None, name: str, *, undated: bool = False) -> tuple[str, date | None] | None:
    """(version, effective date) of one commit's manifest; None when it cannot say (no manifest,
    not JSON, no semantic version or date): such a commit holds no usable policy version. With
    `undated` (an archived version), a manifest without a date gives None as its date."""
    if text is None:
        return None
    try:
        policy = jsonio.loads(text, file=name)["policy_set"]
        version = policy["version"]
        effective = None if undated and "effective_date" not in policy else date.fromisoformat(policy["effective_date"])
    except (InputError, KeyError, TypeError, ValueError):
        return None
    return (version, effective) if isinstance(version, str) and _SEMVER.match(version) else None


def releases(repo: Path, rules_path: str = "rules") -> list[Release]:
    """Every policy version in the history of HEAD with the newest commit that carries it
    (read from `rules_path`/manifest.json in every commit that changed the rules or schemas),
    the latest in force first."""
    log = _git(repo, "log", "--format=%H", "HEAD", "--", rules_path, "schemas", what="HEAD")
    commits = log.decode().split()
    manifest = f"{rules_path}/manifest.json"
    found: dict[str, Release] = {}
    for commit, text in zip(commits, _blobs(repo, [f"{commit}:{manifest}" for commit in commits]), strict=True):
        read = _manifest_version(text, f"{commit[:10]}:{manifest}")
        if read is not None and read[0] not in found:  # newest first: the first seen is the last state
            found[read[0]] = Release(read[0], read[1], commit)
    for version, commit in _ledger(repo, manifest).items():
        if version in found:
            found[version] = Release(version, found[version].effective_date, commit)
    for release in _archived(repo):
        found.setdefault(release.version, release)  # a version the history holds is read from the history
    return sorted(found.values(), key=lambda release: release.order, reverse=True)


def _ledger(repo: Path, manifest: str) -> dict[str, str]:
    """{version: commit} of LEDGER at HEAD, each commit checked to carry that version."""
    text = _blobs(repo, [f"HEAD:{LEDGER}"])[0]
    if text is None:
        return {}
    released = jsonio.loads(text, file=LEDGER).get("released")
    if not isinstance(released, dict):
        raise InputError(
            'expected an object "released": {version: commit}', file=LEDGER, path="$.released", value=released
        )
    for version, commit in released.items():
        where = f"$.released.{version}"
        if not isinstance(commit, str) or not _COMMIT.match(commit):
            raise InputError("expected a full commit id", file=LEDGER, path=where, value=commit)
        read = _manifest_version(_blobs(repo, [f"{commit}:{manifest}"])[0], f"{commit[:10]}:{manifest}")
        if read is None or read[0] != version:
            raise InputError(
                f"this commit does not carry policy version {version}", file=LEDGER, path=where, value=commit
            )
    return dict(released)


def _archived(repo: Path) -> list[Release]:
    """The versions reconstructed under ARCHIVE at HEAD (each ARCHIVE/<version>/rules/manifest.json)."""
    try:
        head = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", what="HEAD").decode().strip()
    except GitError:
        return []
    folders = [
        name.decode()
        for name in _git(repo, "ls-tree", "-d", "--name-only", "-z", head, f"{ARCHIVE}/", what=ARCHIVE).split(b"\0")
        if name
    ]
    names = [f"{head}:{folder}/rules/manifest.json" for folder in folders]
    archived = []
    for folder, text in zip(folders, _blobs(repo, names), strict=True):
        read = _manifest_version(text, f"{folder}/rules/manifest.json", undated=True)
        if read is not None and folder == f"{ARCHIVE}/{read[0]}":
            archived.append(Release(read[0], read[1], head, folder))
    return archived


def in_force(repo: Path, day: date, rules_path: str = "rules") -> Release:
    """The version in force on `day`: of those whose effective date is `day` or earlier, the latest."""
    every = releases(repo, rules_path)
    for release in every:
        if release.effective_date is None or release.effective_date <= day:  # undated: before every dated one
            return release
    earliest = f" (the earliest is {every[-1].version}, effective {every[-1].effective_date})" if every else ""
    raise GitError(
        f"no policy version in the history of {repo} was in force on that date{earliest}",
        file="--as-of",
        value=day.isoformat(),
    )


def version_commit(repo: Path, ref: str, rules_path: str = "rules") -> str:
    """The commit of a policy version named `policy-vX.Y.Z` (its last state); an archived
    version is no commit of the history and is refused here (rules_dir_at reads it)."""
    release = named_release(repo, ref, rules_path)
    if release.root:
        raise GitError(
            f"policy version {release.version} is a reconstruction kept in {release.root}, not a commit: "
            "it can be evaluated (--rules-ref, --rules-in-force) but not compared as a revision",
            file=str(repo),
            value=ref,
        )
    return release.commit


def named_release(repo: Path, ref: str, rules_path: str = "rules") -> Release:
    """The release of a policy version named `policy-vX.Y.Z` (or X.Y.Z)."""
    named = VERSION_REF.match(ref)
    version = named.group(1) if named else ref
    for release in releases(repo, rules_path):
        if release.version == version:
            return release
    raise GitError(
        f"no commit in the history of HEAD carries policy version {version} in {rules_path}/manifest.json",
        file=str(repo),
        value=ref,
    )


def short(repo: Path, rev: str) -> str:
    """A revision for people: "working tree", or the name given with its short commit id."""
    if rev == WORKTREE:
        return "working tree"
    commit = resolve(repo, rev)
    return rev if commit.startswith(rev) else f"{rev} ({commit[:10]})"


def merge_base(repo: Path) -> tuple[str, str]:
    """(commit, description) of the merge base of HEAD with main, else with origin/main."""
    for branch in MAIN_BRANCHES:
        try:
            commit = _git(repo, "merge-base", "HEAD", branch, what=branch).decode().strip()
        except GitError:
            continue
        return commit, f"merge base of HEAD with {branch}"
    raise GitError(
        "no merge base of HEAD with main or origin/main: pass --base REV (a commit, branch or tag)",
        file=str(repo),
        value="--base",
    )


def main_tip(repo: Path) -> str | None:
    """main (else origin/main), or None when there is neither."""
    for branch in MAIN_BRANCHES:
        try:
            resolve(repo, branch)
            return branch
        except GitError:
            continue
    return None


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    """Whether `older` is `newer` or one of its ancestors."""
    return bool(run_git(repo, "merge-base", "--is-ancestor", older, newer).returncode == 0)


_DIFF_PLAIN = ("--name-status", "--no-renames", "--no-ext-diff", "--no-textconv", "-z")


def changed_files(repo: Path, base: str, head: str = WORKTREE, paths: tuple[str, ...] = TRACKED) -> dict[str, str]:
    """{path: status} of the files under `paths` that differ between `base` and `head`.

    Status is A (added), D (deleted) or M (modified). With head WORKTREE, staged,
    unstaged and untracked (not ignored) files all count."""
    if head == WORKTREE:
        raw = _git(repo, "diff", *_DIFF_PLAIN, base, "--", *paths, what=base)
    else:
        raw = _git(repo, "diff", *_DIFF_PLAIN, base, head, "--", *paths, what=head)
    fields = [field.decode("utf-8", "surrogateescape") for field in raw.split(b"\0") if field]
    changed = {fields[index + 1]: fields[index][:1] for index in range(0, len(fields) - 1, 2)}
    if head == WORKTREE:
        untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "-z", "--", *paths, what="ls-files")
        for name in untracked.split(b"\0"):
            if name:
                changed[name.decode("utf-8", "surrogateescape")] = "A"
    return dict(sorted(changed.items()))


def read_text(repo: Path, rev: str, path: str) -> str | None:
    """The text of `path` (relative to the repository) at `rev`, or None when it has none."""
    if rev == WORKTREE:
        file = repo / path
        return file.read_text(encoding="utf-8") if file.is_file() else None
    try:
        # cat-file gives the blob as stored: no textconv, no filter
        return _git(repo, "cat-file", "blob", f"{resolve(repo, rev)}:{path}", what=path).decode("utf-8")
    except GitError:
        return None


def _present(repo: Path, commit: str, paths: tuple[str, ...]) -> list[str]:
    listed = _git(repo, "ls-tree", "--name-only", "-z", commit, "--", *paths, what=commit)
    return [name.decode() for name in listed.split(b"\0") if name]


def materialise(repo: Path, rev: str, dest: Path, paths: tuple[str, ...] = TRACKED) -> list[str]:
    """Write the trees `paths` of `rev` under `dest` (dest/rules, dest/schemas) with
    `git archive`; the working tree is untouched. Returns the paths that exist at rev."""
    commit = resolve(repo, rev)
    present = _present(repo, commit, paths)
    if not present:
        return []
    archive = _git(repo, "archive", "--format=tar", commit, "--", *present, what=rev)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return present


@dataclass
class Tree:
    """A revision's rules/ and schemas/ on disk: in a temporary directory, or the working tree."""

    repo: Path
    rev: str  # as given, or WORKTREE
    commit: str  # resolved commit id, or WORKTREE
    root: Path  # holds rules/ and schemas/

    @property
    def rules_dir(self) -> Path:
        return self.root / "rules"

    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas"

    def load(self, rules_path: str = "rules") -> RuleSet:
        """load_rules on this revision's rules, validated against its own schemas."""
        rules_dir = self.root / rules_path
        if not (rules_dir / "manifest.json").is_file():
            raise GitError(
                f"{short(self.repo, self.rev)} has no {rules_path}/manifest.json: not a revision of the rules",
                file=str(self.repo),
                value=self.rev,
            )
        if self.schemas_dir.is_dir():
            with schemas_from(self.schemas_dir):
                return load_rules(rules_dir)
        return load_rules(rules_dir)


@contextmanager
def checkout_free(repo: Path, rev: str, paths: tuple[str, ...] = TRACKED, *, root: str = "") -> Iterator[Tree]:
    """The trees `paths` (default rules/ and schemas/) of `rev`, removed on exit; with `root`,
    the trees under that folder of `rev` (an archived version). WORKTREE is the repository itself."""
    if rev == WORKTREE:
        yield Tree(repo, rev, WORKTREE, repo)
        return
    commit = resolve(repo, rev)
    temporary = Path(tempfile.mkdtemp(prefix="tos-policy-rev-"))
    try:
        materialise(repo, commit, temporary, tuple(f"{root}/{path}" if root else path for path in paths))
        yield Tree(repo, rev, commit, temporary / root if root else temporary)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def load_rules_at(repo: Path, rev: str) -> RuleSet:
    """The rules of `rev` as a RuleSet (the temporary copy is gone when this returns;
    RuleSet holds every module and datum in memory)."""
    with checkout_free(repo, rev) as tree:
        return tree.load()


def _rules_place(rules_dir: Path | None) -> tuple[Path, str]:
    """The git repository holding `rules_dir` (default ./rules) and the rules' path inside it."""
    repo = repo_root(rules_dir if rules_dir is not None else ".")
    if rules_dir is None:
        return repo, "rules"
    try:
        return repo, rules_dir.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise GitError("--rules is not inside the git repository", file=str(rules_dir), value=str(repo)) from None


@contextmanager
def rules_dir_at(ref: str | None, rules_dir: Path | None, in_force_on: date | None = None) -> Iterator[Path | None]:
    """For `--rules-ref REF` (with `--rules DIR`, default ./rules): a directory holding
    the rules as they were at REF, read from the git repository that contains DIR
    (or the current directory); REF policy-vX.Y.Z is found from the manifests. With
    `in_force_on` (--rules-in-force), the rules of the version in force on that day.
    Without either, `rules_dir` itself."""
    if ref is not None and in_force_on is not None:
        raise GitError("give --rules-ref or --rules-in-force, not both", file="--rules-in-force", value=ref)
    if ref is None and in_force_on is None:
        yield rules_dir
        return
    repo, inside = _rules_place(rules_dir)
    release = None
    if in_force_on is not None:
        release = in_force(repo, in_force_on, inside)
    elif ref is not None and VERSION_REF.match(ref):
        release = named_release(repo, ref, inside)
    if release is not None:
        ref = release.commit
        inside = "rules" if release.root else inside  # an archived version keeps rules/ and schemas/ side by side
    assert ref is not None
    paths = (inside, "schemas") if inside != "schemas" else (inside,)
    with checkout_free(repo, ref, paths, root=release.root if release is not None else "") as tree:
        check_interface(tree.load(inside), ref)  # clear errors now, before any facts are read
        with schemas_from(tree.schemas_dir):
            yield tree.root / inside


def check_interface(rules: RuleSet, rev: str) -> None:
    """Refuse rules that do not answer this evaluator's ownership step (data.ownership.batch
    with the profile given once per batch), as revisions of the rules older than that
    interface do: their answers could not be read, so they cannot be evaluated here."""
    from tos_policy.engines.embedded import EmbeddedEngine
    from tos_policy.errors import EngineError

    profile = str(rules.policy_set.get("default_profile"))
    probe = {
        "profile": profile,
        "reading": "lower",
        "items": [{"scale": 1, "entity": {"type": "company", "headquarters": None, "jurisdiction": None}, "links": []}],
    }
    try:
        engine = EmbeddedEngine(rules)
        try:
            engine.decide(probe)
        finally:
            engine.close()
    except EngineError as exc:
        raise GitError(
            "the rules at this revision do not answer this evaluator's ownership step "
            f"(data.ownership.batch): an older interface, so they cannot be evaluated here ({exc})",
            file="--rules-ref",
            value=rev,
        ) from None
