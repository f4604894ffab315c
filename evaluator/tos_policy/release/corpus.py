"""The decision corpus: real-looking fact sets with the decisions the rules must give.

tests/corpus/*.json are facts files; tests/corpus/access/*.json are access-request
cases (sign-ups, each with the facts about its organisation). tests/corpus/expected.json
holds every entity's and every request's expected decision at one as-of date. The
change gate and the impact report decide these cases under two revisions of the
rules; tests check that the current rules give exactly the expected decisions on
every engine, and `tos-policy corpus --update` rewrites expected.json after a
deliberate change."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.access import AccessDecision, AccessRequest, decide_access, request_from_document
from tos_policy.atomic import replaced_atomically
from tos_policy.dates import strict_date
from tos_policy.engines import Engine
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import InputError
from tos_policy.facts.load import Facts, facts_from_document, load_facts
from tos_policy.ownership.pipeline import Report, evaluate
from tos_policy.policy.ruleset import RuleSet

CORPUS_DIR = Path("tests") / "corpus"
ACCESS_DIR = "access"
EXPECTED_FILE = "expected.json"
DECISIONS = ("allow", "deny", "review")
MAX_CASE_FILE_BYTES = 16 << 20


@dataclass
class FactSet:
    label: str  # how reports name it: the path as given, or relative to the repository
    facts: Facts
    profile: str | None = None  # the ownership profile its cases are decided with (None: the caller's)


@dataclass
class AccessSet:
    """One file of access-request cases: the requests and the facts about the organisations they name."""

    label: str
    facts: Facts | None
    requests: list[AccessRequest]


@dataclass
class Corpus:
    root: Path
    as_of: date
    profile: str | None
    fact_sets: list[FactSet]
    expected: dict[str, dict[str, str]]  # file name -> entity id -> decision
    profiles: dict[str, str] = field(default_factory=dict)  # file name -> profile its cases are decided with
    access_sets: list[AccessSet] = field(default_factory=list)
    expected_access: dict[str, dict[str, str]] = field(default_factory=dict)  # file name -> request id -> decision


@dataclass
class Outcomes:
    """What one revision of the rules decides on the corpus's cases."""

    reports: dict[str, Report]  # fact set label -> its report
    access: dict[str, list[AccessDecision]] = field(default_factory=dict)  # access set label -> its decisions

    @property
    def decisions(self) -> int:
        return sum(len(report.decisions) for report in self.reports.values()) + sum(
            len(items) for items in self.access.values()
        )


def corpus_dir(repo: Path) -> Path:
    return repo / CORPUS_DIR


def load_fact_sets(paths: Iterable[Path], relative_to: Path | None = None) -> list[FactSet]:
    """Each facts file as one fact set, labelled by its path (relative to `relative_to` when inside it)."""
    sets = []
    for path in paths:
        label = str(path)
        if relative_to is not None:
            with contextlib.suppress(ValueError):  # outside it: the path as given
                label = path.resolve().relative_to(relative_to.resolve()).as_posix()
        sets.append(FactSet(label, load_facts([path])))
    return sets


def load_corpus(directory: Path, label_root: Path | None = None) -> Corpus:
    """The corpus in `directory`: every *.json but expected.json, and expected.json."""
    expected_path = directory / EXPECTED_FILE
    if not expected_path.is_file():
        raise InputError(
            "no decision corpus here (expected.json missing): see tests/corpus/README.md",
            file=str(expected_path),
            value=str(directory),
        )
    document = _read_expected(expected_path)
    files = sorted(path for path in directory.glob("*.json") if path.name != EXPECTED_FILE)
    if not files:
        raise InputError("the decision corpus has no facts files", file=str(directory), value=str(directory))
    root = label_root or directory.parent.parent
    access_files = sorted((directory / ACCESS_DIR).glob("*.json"))
    profiles = dict(document.get("profiles", {}))
    fact_sets = load_fact_sets(files, root)
    for item in fact_sets:
        item.profile = profiles.get(file_name(item.label))
    unknown = sorted(set(profiles) - {file_name(item.label) for item in fact_sets})
    if unknown:
        raise InputError(
            "a profile is given for a file the corpus does not have",
            file=str(expected_path),
            path=f"$.profiles.{unknown[0]}",
            value=unknown[0],
        )
    return Corpus(
        root=directory,
        as_of=strict_date(document["as_of"]),
        profile=document.get("profile"),
        fact_sets=fact_sets,
        expected={name: dict(decisions) for name, decisions in document["files"].items()},
        profiles=profiles,
        access_sets=[load_access_set(path, root) for path in access_files],
        expected_access={name: dict(decisions) for name, decisions in document.get("access", {}).items()},
    )


def load_access_set(path: Path, relative_to: Path | None = None) -> AccessSet:
    """An access-case file: {"description", "facts": {entities, ownership}?, "requests": [request, ...]}.

    Each request is read as `tos-policy decide` reads REQUEST.json and must carry an id,
    unique in its file; the facts are read as a facts file."""
    file = str(path)
    label = file
    if relative_to is not None:
        with contextlib.suppress(ValueError):
            label = path.resolve().relative_to(relative_to.resolve()).as_posix()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
    if len(raw) > MAX_CASE_FILE_BYTES:
        raise InputError(f"a case file must be at most {MAX_CASE_FILE_BYTES:,} bytes", file=file, value=len(raw))
    document = jsonio.loads(raw, file=file)
    if not isinstance(document, dict) or not isinstance(document.get("requests"), list):
        raise InputError("an access-case file is an object with a list of requests", file=file, path="$.requests")
    unknown = sorted(set(document) - {"description", "facts", "requests"})
    if unknown:
        raise InputError("unknown field in an access-case file", file=file, path=f"$.{unknown[0]}", value=unknown[0])
    facts = None
    if "facts" in document:
        with _located_under("$.facts"):
            facts = facts_from_document(document["facts"], file)
    requests: list[AccessRequest] = []
    seen: set[str] = set()
    for index, item in enumerate(document["requests"]):
        where = f"$.requests[{index}]"
        with _located_under(where):
            request = request_from_document(item, file)
        if request.request_id is None or request.request_id in seen:
            problem = "a case needs an id" if request.request_id is None else "two cases have this id"
            raise InputError(problem, file=file, path=f"{where}.id", value=request.request_id)
        seen.add(request.request_id)
        requests.append(request)
    return AccessSet(label, facts, requests)


@contextlib.contextmanager
def _located_under(prefix: str) -> Iterator[None]:
    """Errors about a document nested at `prefix` name their place in the whole file."""
    try:
        yield
    except InputError as error:
        if not error.path.startswith("$"):
            raise
        raise InputError(error.message, file=error.file, path=prefix + error.path[1:], value=error.value) from None


def _read_expected(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the expected decisions: {exc}", file=str(path), value=str(path)) from None
    document = jsonio.loads(raw, file=str(path), exact=False)
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        raise InputError("expected.json must be an object with as_of and files", file=str(path), value=document)
    try:
        strict_date(str(document.get("as_of")))
    except ValueError:
        raise InputError(
            "not a date (YYYY-MM-DD)", file=str(path), path="$.as_of", value=document.get("as_of")
        ) from None
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(value, str) and value for value in profiles.values()):
        raise InputError("must map file names to profile names", file=str(path), path="$.profiles")
    for key in ("files", "access"):
        sets = document.get(key, {})
        if not isinstance(sets, dict):
            raise InputError("must map file names to decisions", file=str(path), path=f"$.{key}")
        for name, decisions in sets.items():
            if not isinstance(decisions, dict) or any(value not in DECISIONS for value in decisions.values()):
                raise InputError(
                    "decisions must map ids to allow, deny or review", file=str(path), path=f"$.{key}.{name}"
                )
    return document


def evaluate_sets(
    fact_sets: list[FactSet], rules: RuleSet, *, as_of: date, profile: str | None = None
) -> dict[str, Report]:
    """Every fact set decided with the embedded engine, one compiled engine for all of them; a set
    that names its own profile (expected.json's `profiles`) is decided with it, the others with `profile`."""
    engine = EmbeddedEngine(rules)
    try:
        return {
            item.label: evaluate(item.facts, rules, engine, as_of=as_of, profile=item.profile or profile)
            for item in fact_sets
        }
    finally:
        engine.close()


def decide_access_sets(
    access_sets: list[AccessSet], rules: RuleSet, engine: Engine, *, as_of: date
) -> dict[str, list[AccessDecision]]:
    """Every access case decided by `engine`, with the access policy the rules name as default."""
    return {
        item.label: [decide_access(request, item.facts, rules, engine, as_of=as_of) for request in item.requests]
        for item in access_sets
    }


def decide_corpus(corpus: Corpus, rules: RuleSet, engine: Engine | None = None) -> Outcomes:
    """Every case of the corpus decided by `engine` (default: one embedded engine for all of them)."""
    own = engine is None
    used: Engine = EmbeddedEngine(rules) if engine is None else engine
    try:
        reports = {
            item.label: evaluate(item.facts, rules, used, as_of=corpus.as_of, profile=item.profile or corpus.profile)
            for item in corpus.fact_sets
        }
        return Outcomes(reports, decide_access_sets(corpus.access_sets, rules, used, as_of=corpus.as_of))
    finally:
        if own:
            used.close()


def file_name(label: str) -> str:
    return Path(label).name


def _expected_lines(
    expected: dict[str, dict[str, str]], actual: dict[str, dict[str, str]], what: str, key: str
) -> list[str]:
    lines = []
    for label, decided in actual.items():
        want_all = expected.get(file_name(label))
        if want_all is None:
            lines.append(f"{label}: not in expected.json (run `tos-policy corpus --update`)")
            continue
        for case in sorted(set(want_all) | set(decided)):
            want, got = want_all.get(case), decided.get(case)
            if want != got:
                lines.append(f"{label}: {case}: expected {want or 'no decision'}, the rules give {got or 'none'}")
    known = {file_name(label) for label in actual}
    lines.extend(f"expected.json: {key}: {name}: no such {what} file" for name in sorted(set(expected) - known))
    return lines


def decided_entities(outcomes: Outcomes) -> dict[str, dict[str, str]]:
    return {
        label: {item.entity.id: item.decision for item in report.decisions}
        for label, report in outcomes.reports.items()
    }


def decided_requests(outcomes: Outcomes) -> dict[str, dict[str, str]]:
    return {label: {str(item.request_id): item.decision for item in items} for label, items in outcomes.access.items()}


def decided_by_file(outcomes: Outcomes) -> dict[str, dict[str, str]]:
    """File name (as expected.json names it) -> entity id -> decision."""
    return {file_name(label): decided for label, decided in sorted(decided_entities(outcomes).items())}


def mismatches(corpus: Corpus, outcomes: Outcomes) -> list[str]:
    """Differences between the expected decisions and `outcomes`, one line each (none: all as expected)."""
    return _expected_lines(corpus.expected, decided_entities(outcomes), "facts", "files") + _expected_lines(
        corpus.expected_access, decided_requests(outcomes), "access-case", "access"
    )


def write_expected(corpus: Corpus, outcomes: Outcomes) -> Path:
    """Rewrite expected.json with the decisions of `outcomes` (atomically)."""
    document: dict[str, Any] = {
        "description": "Expected decisions of the decision corpus (tests/corpus/README.md). "
        "Regenerate with `tos-policy corpus --update` after a deliberate rule change.",
        "as_of": corpus.as_of.isoformat(),
    }
    if corpus.profile:
        document["profile"] = corpus.profile
    if corpus.profiles:
        document["profiles"] = dict(sorted(corpus.profiles.items()))
    document["files"] = decided_by_file(outcomes)
    if outcomes.access:
        document["access"] = {
            file_name(label): decided for label, decided in sorted(decided_requests(outcomes).items())
        }
    target = corpus.root / EXPECTED_FILE
    with replaced_atomically(target) as temporary:
        temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
