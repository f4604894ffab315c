"""The decision corpus: real-looking fact sets with the decisions the rules must give.

tests/corpus/*.json are facts files; tests/corpus/expected.json holds, for each
file, every entity's expected decision at one as-of date. The change gate and
the impact report evaluate these facts under two revisions of the rules; a test
checks that the current rules give exactly the expected decisions, and
`tos-policy corpus --update` rewrites expected.json after a deliberate change."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.atomic import replaced_atomically
from tos_policy.dates import strict_date
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import InputError
from tos_policy.facts.load import Facts, load_facts
from tos_policy.ownership.pipeline import Report, evaluate
from tos_policy.policy.ruleset import RuleSet

CORPUS_DIR = Path("tests") / "corpus"
EXPECTED_FILE = "expected.json"
DECISIONS = ("allow", "deny", "review")


@dataclass
class FactSet:
    label: str  # how reports name it: the path as given, or relative to the repository
    facts: Facts


@dataclass
class Corpus:
    root: Path
    as_of: date
    profile: str | None
    fact_sets: list[FactSet]
    expected: dict[str, dict[str, str]]  # file name -> entity id -> decision


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
    sets = load_fact_sets(files, label_root or directory.parent.parent)
    return Corpus(
        root=directory,
        as_of=strict_date(document["as_of"]),
        profile=document.get("profile"),
        fact_sets=sets,
        expected={name: dict(decisions) for name, decisions in document["files"].items()},
    )


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
    for name, decisions in document["files"].items():
        if not isinstance(decisions, dict) or any(value not in DECISIONS for value in decisions.values()):
            raise InputError(
                "decisions must map entity ids to allow, deny or review", file=str(path), path=f"$.files.{name}"
            )
    return document


def evaluate_sets(
    fact_sets: list[FactSet], rules: RuleSet, *, as_of: date, profile: str | None = None
) -> dict[str, Report]:
    """Every fact set decided with the embedded engine, one compiled engine for all of them."""
    engine = EmbeddedEngine(rules)
    try:
        return {item.label: evaluate(item.facts, rules, engine, as_of=as_of, profile=profile) for item in fact_sets}
    finally:
        engine.close()


def file_name(label: str) -> str:
    return Path(label).name


def mismatches(corpus: Corpus, reports: dict[str, Report]) -> list[str]:
    """Differences between the expected decisions and `reports`, one line each (none: all as expected)."""
    lines = []
    for label, report in reports.items():
        expected = corpus.expected.get(file_name(label))
        if expected is None:
            lines.append(f"{label}: not in expected.json (run `tos-policy corpus --update`)")
            continue
        actual = {item.entity.id: item.decision for item in report.decisions}
        for entity_id in sorted(set(expected) | set(actual)):
            want, got = expected.get(entity_id), actual.get(entity_id)
            if want != got:
                lines.append(f"{label}: {entity_id}: expected {want or 'no decision'}, the rules give {got or 'none'}")
    known = {file_name(label) for label in reports}
    lines.extend(f"expected.json: {name}: no such facts file" for name in sorted(set(corpus.expected) - known))
    return lines


def write_expected(corpus: Corpus, reports: dict[str, Report]) -> Path:
    """Rewrite expected.json with the decisions of `reports` (atomically)."""
    document: dict[str, Any] = {
        "description": "Expected decisions of the decision corpus (tests/corpus/README.md). "
        "Regenerate with `tos-policy corpus --update` after a deliberate rule change.",
        "as_of": corpus.as_of.isoformat(),
    }
    if corpus.profile:
        document["profile"] = corpus.profile
    document["files"] = {
        file_name(label): {item.entity.id: item.decision for item in report.decisions}
        for label, report in sorted(reports.items())
    }
    target = corpus.root / EXPECTED_FILE
    with replaced_atomically(target) as temporary:
        temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
