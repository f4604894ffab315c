"""The readable policy: every rule rendered from its METADATA and data.

`tos-policy docs -o DIR` writes DIR/index.md (the policy set, its packages,
the restricted regions and threshold in force, the exceptions), one
DIR/<package>/index.md per rule package, and DIR/index.html, the same pages as
one static HTML page (rendered with markdown-it-py, no scripts, no external
files). For each rule: title, plain-English statement, clause, version and
effective date, the data it reads with the current values, worked examples
from its own Rego tests (with their outcome when OPA runs them) and from the
decision corpus."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pycountry
from markdown_it import MarkdownIt

from tos_policy import jsonio
from tos_policy.atomic import directory_replaced_atomically
from tos_policy.errors import InputError
from tos_policy.policy.legal_exceptions import ExceptionBook
from tos_policy.policy.ruleset import RuleInfo, RuleSet
from tos_policy.release.corpus import Corpus, evaluate_sets
from tos_policy.reports.records import reason_sentence
from tos_policy.resources import schema

# Where each package keeps its named data documents, and the schema that explains their fields.
DATA_SCHEMAS = {("ownership", "profiles"): "profile", ("access", "policies"): "access-policy"}
# The names under which the rules hold the profile or policy in force: `profile.X` is data field X.
_DATA_HOLDERS = ("profile", "policy")
_UPPER_WORDS = {"cn", "ru", "ir", "kp", "sg", "ky", "ip", "vpn", "id", "psc", "uk"}
MAX_CORPUS_EXAMPLES = 4


@dataclass
class RegoTest:
    file: str  # e.g. ownership_test.rego
    package: str  # Rego package, e.g. ownership_test
    name: str  # test_...
    rule_id: str | None  # the rule its section names
    outcome: str  # passes | FAILS | not run


@dataclass
class CorpusExample:
    file: str
    entity: str
    decision: str
    sentences: list[str]


@dataclass
class PackageDoc:
    folder: str  # e.g. ownership
    info: RuleInfo  # the package METADATA (the rule with custom.version)
    rules: list[RuleInfo]  # numbered rules, in order
    helpers: list[RuleInfo]  # other documented rules
    fields: dict[str, list[str]] = field(default_factory=dict)  # rule id -> data fields it reads
    tests: list[RegoTest] = field(default_factory=list)


def _sort_key(rule_id: str) -> tuple[str, int]:
    head, _, number = rule_id.rpartition("-")
    return (head, int(number)) if number.isdigit() else (rule_id, 0)


def package_docs(rules: RuleSet) -> list[PackageDoc]:
    """The rule packages: each folder's package METADATA and the rules documented in it."""
    docs = []
    for info in sorted(rules.rules.values(), key=lambda item: item.file):
        if "version" not in info.custom:
            continue
        folder = Path(info.file).parts[0]
        members = [item for item in rules.rules.values() if Path(item.file).parts[0] == folder and item is not info]
        # A legal rule cites the clause of the terms it implements (METADATA related_resources);
        # the others (entrypoints, plumbing) are helpers.
        numbered = sorted((item for item in members if item.clause), key=lambda i: _sort_key(i.rule_id))
        helpers = sorted((item for item in members if not item.clause), key=lambda i: i.rule_id)
        doc = PackageDoc(folder, info, numbered, helpers)
        doc.fields = _fields_by_rule(rules, doc)
        docs.append(doc)
    return docs


def _fields_by_rule(rules: RuleSet, doc: PackageDoc) -> dict[str, list[str]]:
    """The data fields (profile.X / policy.X) each rule reads: in its own definition and,
    transitively, in the definitions of the module it refers to (from OPA's AST, in the rules index)."""
    fields: dict[str, list[str]] = {}
    for info in doc.rules:
        definitions: dict[str, list[str]] = _module(rules, info.file).get("definitions", {})
        name = _defined_name(rules, info)
        if name not in definitions:
            continue
        seen = {name}
        pending = [name]
        found: set[str] = set()
        while pending:
            for ref in definitions[pending.pop()]:
                parts = ref.split(".")
                found.update(parts[at + 1] for at in range(len(parts) - 1) if parts[at] in _DATA_HOLDERS)
                if parts[0] in definitions and parts[0] not in seen:
                    seen.add(parts[0])
                    pending.append(parts[0])
        fields[info.rule_id] = sorted(found)
    return fields


def _module(rules: RuleSet, file: str) -> dict[str, Any]:
    """What OPA read of one module (the rules index)."""
    module: dict[str, Any] = rules.index.get("modules", {}).get(file, {})
    return module


def _defined_name(rules: RuleSet, info: RuleInfo) -> str | None:
    """The top-level name the rule's METADATA annotates, from its path as `opa inspect -a` gave it."""
    path = str(rules.index.get("rules", {}).get(info.rule_id, {}).get("path", "")).split("/")
    package = str(_module(rules, info.file).get("package", "")).split(".")
    return path[len(package)] if path[: len(package)] == package and len(path) > len(package) else None


def rego_tests(rules: RuleSet, folder: str, outcomes: dict[tuple[str, str], str] | None) -> list[RegoTest]:
    """Every Rego test of the package, with the rule whose section ("# Rule N (ID): ...") it is in,
    as OPA's parse of the test modules found them (the rules index: policy/opa_read.test_sections)."""
    cases = []
    for path in sorted(rules.test_modules):
        if Path(path).parts[0] != folder:
            continue
        module = _module(rules, path)
        package = str(module.get("package") or folder)
        for test in module.get("tests", []):
            name = str(test["name"])
            outcome = "not run" if outcomes is None else outcomes.get((package, name), "not run")
            cases.append(RegoTest(Path(path).name, package, name, test.get("section"), outcome))
    return cases


def sentence_of_test(name: str) -> str:
    """test_stake_of_49_99_does_not_restrict -> "Stake of 49.99 does not restrict"."""
    text = re.sub(r"(\d+)_(\d+)", r"\1.\2", name.removeprefix("test_"))
    text = re.sub(r"(\d)_(\d)", r"\1, \2", text)
    words = [word.upper() if word in _UPPER_WORDS else word for word in text.split("_")]
    sentence = " ".join(words)
    return sentence[:1].upper() + sentence[1:]


def find_opa(explicit: Path | None, repo: Path | None) -> Path | None:
    """The OPA binary to run the rules' tests: --opa, $OPA_BINARY, the repository's
    .tools/bin/opa (scripts/build-opa), tos-policy's own, or `opa` on the PATH."""
    from tos_policy.engines.opa_server import DEFAULT_BINARY

    candidates = [explicit, Path(os.environ["OPA_BINARY"]) if os.environ.get("OPA_BINARY") else None]
    candidates += [repo / ".tools" / "bin" / "opa" if repo is not None else None, DEFAULT_BINARY]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    found = shutil.which("opa")
    return Path(found) if found else None


def run_opa_tests(opa: Path, rules_dir: Path) -> dict[tuple[str, str], str]:
    """{(package, test name): "passes" | "FAILS"} from `opa test --format json`."""
    done = subprocess.run(
        [str(opa), "test", str(rules_dir), "--format", "json"], capture_output=True, text=True, check=False
    )
    try:
        results = jsonio.loads(done.stdout or "[]", file="opa test --format json", max_depth=1000, exact=False)
    except InputError:
        return {}
    outcomes = {}
    for result in results if isinstance(results, list) else []:
        package = str(result.get("package", "")).removeprefix("data.")
        failed = result.get("fail") or result.get("error")
        outcomes[(package, str(result.get("name")))] = "FAILS" if failed else "passes"
    return outcomes


def corpus_examples(rules: RuleSet, corpus: Corpus | None) -> dict[str, list[CorpusExample]]:
    """Corpus decisions that cite each rule, decided with these rules."""
    if corpus is None:
        return {}
    # the rules' pages speak of the default profile: case files decided with another profile are left out
    default_sets = [item for item in corpus.fact_sets if item.profile is None]
    reports = evaluate_sets(default_sets, rules, as_of=corpus.as_of, profile=corpus.profile)
    examples: dict[str, list[CorpusExample]] = {}
    for label, report in reports.items():
        for item in report.decisions:
            for rule_id in sorted({str(reason.get("rule_id")) for reason in item.reasons}):
                sentences = [
                    reason_sentence(item.entity, reason, rules)
                    for reason in item.reasons
                    if reason.get("rule_id") == rule_id
                ]
                listed = examples.setdefault(rule_id, [])
                decisions = {example.decision for example in listed}
                # a few per rule, different outcomes first
                if len(listed) < MAX_CORPUS_EXAMPLES and (item.decision not in decisions or len(listed) < 2):
                    listed.append(CorpusExample(label, item.entity.id, item.decision, sentences))
    return examples


def stale_wording(rules: RuleSet, doc: PackageDoc, info: RuleInfo) -> str | None:
    """A note when a rule's title or description quotes a percentage other than the
    threshold in force (the data moved, the wording did not), else None."""
    if "threshold_percent" not in doc.fields.get(info.rule_id, []):
        return None
    profile = rules.data.get(doc.folder, {}).get("profiles", {}).get(rules.policy_set.get("default_profile"))
    if not isinstance(profile, dict) or "threshold_percent" not in profile:
        return None
    value = profile["threshold_percent"]
    quoted = sorted(set(re.findall(r"(\d+(?:\.\d+)?)\s?%", f"{info.title} {info.description}")))
    if not quoted or quoted == [str(value)]:
        return None
    return (
        f"the wording of {info.rule_id} quotes {', '.join(q + '%' for q in quoted)} but threshold_percent in force "
        f"is {value}%: update the rule's METADATA title or description in {info.file}"
    )


def stale_wordings(rules: RuleSet) -> list[str]:
    """stale_wording for every rule of every package."""
    return [note for doc in package_docs(rules) for info in doc.rules if (note := stale_wording(rules, doc, info))]


# ---------------------------------------------------------------- Markdown


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _country_list(codes: list[str]) -> str:
    names = []
    for code in codes:
        country = pycountry.countries.get(alpha_2=code) if "-" not in code else None
        if "-" in code:  # an ISO 3166-2 subdivision
            country = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
        name = getattr(country, "common_name", None) or getattr(country, "name", code) if country else code
        names.append(f"{name} ({code})")
    return ", ".join(names)


def _regions(rules: RuleSet, profile: dict[str, Any], which: str) -> list[str]:
    """The shared regions list (data.regions); an older profile's own restricted_countries."""
    regions = rules.data.get("regions")
    if isinstance(regions, dict):
        return [str(code) for code in regions.get(which, [])]
    return [str(code) for code in profile.get("restricted_countries", [])] if which == "restricted" else []


def value_text(key: str, value: Any) -> str:
    if key.endswith("countries") and isinstance(value, list):
        return _country_list([str(code) for code in value]) or "none"
    if key == "threshold_percent":
        return f"{value}%"
    if isinstance(value, dict):
        return "; ".join(f"{name}: {json.dumps(item)}" for name, item in value.items())
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return json.dumps(value) if not isinstance(value, str) else value


def threshold_phrase(profile: dict[str, Any]) -> str:
    threshold = profile.get("threshold_percent")
    inclusive = "or more" if profile.get("threshold_inclusive") else "(more than, not equal)"
    summed = (
        "summed over all restricted owners"
        if profile.get("aggregate_owners")
        else "summed only over owners acting jointly"
    )
    return f"{threshold}% {inclusive}, {summed}"


def _data_documents(rules: RuleSet, folder: str) -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(kind, name, document, schema name) of each named data document of the package."""
    found = []
    tree = rules.data.get(folder, {})
    for kind, documents in sorted(tree.items()) if isinstance(tree, dict) else []:
        if not isinstance(documents, dict):
            continue
        for name, document in sorted(documents.items()):
            if isinstance(document, dict):
                found.append((kind, name, document, DATA_SCHEMAS.get((folder, kind))))
    return found


def _field_descriptions(schema_name: str | None) -> dict[str, str]:
    if schema_name is None:
        return {}
    properties = schema(schema_name).get("properties", {})
    return {key: " ".join(str(value.get("description", "")).split()) for key, value in properties.items()}


def _version_line(info: RuleInfo, package: RuleInfo) -> str:
    version = info.custom.get("version", package.custom.get("version"))
    effective = info.custom.get("effective_date", package.custom.get("effective_date"))
    inherited = "" if "version" in info.custom else " (the package's)"
    return f"Version {version}{inherited}, effective {effective}."


def _clause(info: RuleInfo, rules: RuleSet) -> str | None:
    if info.clause and info.ref:
        return f"[{info.clause}]({info.ref})"
    return info.clause


def package_markdown(
    rules: RuleSet, doc: PackageDoc, examples: dict[str, list[CorpusExample]], outcomes_ran: bool
) -> str:
    package = doc.info
    policy = rules.policy_set
    lines = [
        f"# {package.title} ({package.rule_id})",
        "",
        f"Package `rules/{doc.folder}`, {_version_line(package, package).lower()[:-1]}; "
        f"policy set {policy['name']} {policy['version']}, effective {policy['effective_date']}.",
        "",
        package.description,
        "",
    ]
    clause = _clause(package, rules)
    if clause:
        lines.extend([f"Clause: {clause}.", ""])
    lines.extend(["## Rules", ""])
    for info in doc.rules:
        lines.extend(_rule_markdown(rules, doc, info, examples.get(info.rule_id, []), outcomes_ran))
    for kind, name, document, schema_name in _data_documents(rules, doc.folder):
        lines.extend(_data_markdown(kind, name, document, schema_name, name == policy.get("default_profile")))
    if doc.helpers:
        lines.extend(["## Definitions used by the rules", ""])
        lines.extend(f"- **{info.rule_id}**, {info.title}: {info.description}" for info in doc.helpers)
        lines.append("")
    other = [case for case in doc.tests if case.rule_id is None]
    if other:
        lines.extend(["## Other test cases", "", "| Case | Outcome |", "|---|---|"])
        lines.extend(f"| {_cell(sentence_of_test(case.name))} | {case.outcome} |" for case in other)
        lines.append("")
    return "\n".join(lines) + "\n"


def _rule_markdown(
    rules: RuleSet, doc: PackageDoc, info: RuleInfo, examples: list[CorpusExample], outcomes_ran: bool
) -> list[str]:
    lines = [f"### {info.rule_id}: {info.title}", "", info.description, ""]
    stale = stale_wording(rules, doc, info)
    if stale:
        lines.extend([f"> **Note:** {stale}.", ""])
    clause = _clause(info, rules)
    facts = [f"- {_version_line(info, doc.info)}"]
    if clause:
        facts.append(f"- Clause: {clause}.")
    fields = doc.fields.get(info.rule_id, [])
    if fields:
        facts.append(f"- Data it reads: {', '.join(f'`{name}`' for name in fields)} (values below).")
        for _kind, name, document, _schema in _data_documents(rules, doc.folder):
            if name == rules.policy_set.get("default_profile"):
                values = "; ".join(f"{key} = {value_text(key, document[key])}" for key in fields if key in document)
                facts.append(f"- In force ({name}): {values}.")
    lines.extend([*facts, ""])
    cases = [case for case in doc.tests if case.rule_id == info.rule_id]
    if cases:
        source = ", ".join(sorted({f"`{case.file}`" for case in cases}))
        lines.extend(
            [f"Worked examples (the rule's test cases in {source}):", "", "| Example | Outcome |", "|---|---|"]
        )
        lines.extend(f"| {_cell(sentence_of_test(case.name))} | {case.outcome} |" for case in cases)
        if not outcomes_ran:
            lines.extend(["", "(Outcomes not run: OPA was not found; pass `--opa PATH`.)"])
        lines.append("")
    if examples:
        lines.extend(
            [
                "From the decision corpus (decided with these rules):",
                "",
                "| Entity | Facts | Decision |",
                "|---|---|---|",
            ]
        )
        for example in examples:
            lines.append(
                f"| `{example.entity}` ({_cell(example.file)}) | {_cell(' '.join(example.sentences))} | "
                f"**{example.decision}** |"
            )
        lines.append("")
    return lines


def _data_markdown(kind: str, name: str, document: dict[str, Any], schema_name: str | None, default: bool) -> list[str]:
    title = str(document.get("title", name)).rstrip(".")
    marker = " (the default)" if default else ""
    singular = {"profiles": "profile", "policies": "policy"}.get(kind, kind)
    lines = [f"## Data: {singular} `{name}`{marker}", "", f"{title}.", ""]
    descriptions = _field_descriptions(schema_name)
    lines.extend(["| Field | Meaning | Value |", "|---|---|---|"])
    for key, value in document.items():
        if key == "title":
            continue
        lines.append(f"| `{key}` | {_cell(descriptions.get(key, ''))} | {_cell(value_text(key, value))} |")
    lines.append("")
    return lines


def index_markdown(rules: RuleSet, docs: list[PackageDoc], book: ExceptionBook, link: Callable[[str], str]) -> str:
    policy = rules.policy_set
    lines = [
        f"# {policy['name']} {policy['version']}: the policy in plain English",
        "",
        f"Policy set **{policy['name']} {policy['version']}**, effective **{policy['effective_date']}** "
        f"(rules digest `{rules.digest}`). Generated from the rules' METADATA and data by `tos-policy docs`; "
        "do not edit by hand.",
        "",
    ]
    profile = rules.data.get("ownership", {}).get("profiles", {}).get(policy.get("default_profile"))
    if isinstance(profile, dict):
        lines.extend(
            [
                f"In force (profile `{policy['default_profile']}`):",
                "",
                f"- **Restricted regions:** {_country_list(_regions(rules, profile, 'restricted'))}.",
                *(
                    [f"- **Review regions:** {_country_list(_regions(rules, profile, 'review'))}."]
                    if profile.get("review_regions")
                    else []
                ),
                f"- **Ownership threshold:** {threshold_phrase(profile)}.",
                "",
            ]
        )
    lines.extend(["## Rule packages", "", "| Package | Rules | Version | Effective |", "|---|---|---|---|"])
    for doc in docs:
        numbered = ", ".join(info.rule_id for info in doc.rules)
        lines.append(
            f"| [{doc.info.title}]({link(doc.folder)}) | {numbered} | {doc.info.custom.get('version')} | "
            f"{doc.info.custom.get('effective_date')} |"
        )
    summary = book.summary()
    lines.extend(
        [
            "",
            "## Exceptions",
            "",
            f"As of {book.as_of.isoformat()}: {summary['in_force']} in force, {summary['expired']} expired, "
            f"{summary['not_yet_in_force']} not yet in force (rules/exceptions/data.json).",
            "",
        ]
    )
    if summary["exceptions"]:
        lines.extend(
            [
                "| Id | Entity | Rule | Status | Granted | Expires | Approver | Reason |",
                "|---|---|---|---|---|---|---|---|",
            ]
        )
        for record in summary["exceptions"]:
            lines.append(
                f"| {record['id']} | `{_cell(record['entity'])}` | {record['rule_id']} | {record['status']} | "
                f"{record['granted']} | {record['expires']} | {_cell(record['approver'])} | {_cell(record['reason'])} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;vertical-align:top}
th{background:#f6f8fa}code{background:#f6f8fa;padding:0 .2rem}section{border-top:2px solid #d0d7de;margin-top:2rem}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _with_heading_ids(rendered: str, prefix: str) -> str:
    """Give each heading an id, `prefix`-<slug of its text before any colon> (unique on the page)."""

    def add_id(match: re.Match[str]) -> str:
        level, inner = match.group(1), match.group(2)
        plain = re.sub(r"<[^>]+>", "", inner)
        return f'<h{level} id="{prefix}-{_slug(html.unescape(plain).split(":")[0])}">{inner}</h{level}>'

    return re.sub(r"<h([1-4])>(.*?)</h\1>", add_id, rendered)


def html_page(title: str, sections: list[tuple[str, str]]) -> str:
    """One static page: each (id, Markdown) section rendered by markdown-it-py, raw HTML in Markdown escaped."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    parts = []
    for section_id, text in sections:
        rendered = _with_heading_ids(renderer.render(text), _slug(section_id))
        parts.append(f'<section id="{html.escape(section_id)}">\n{rendered}</section>')
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


@dataclass
class Written:
    files: list[Path]
    tests_ran: bool


def write_docs(
    rules: RuleSet,
    output: Path,
    *,
    as_of: date,
    corpus: Corpus | None = None,
    opa: Path | None = None,
) -> Written:
    """Render the policy into `output`: index.md, <package>/index.md, index.html."""
    outcomes = run_opa_tests(opa, rules.root) if opa is not None else None
    docs = package_docs(rules)
    for doc in docs:
        doc.tests = rego_tests(rules, doc.folder, outcomes)
    examples = corpus_examples(rules, corpus)
    book = ExceptionBook.of(rules, as_of)
    pages: dict[str, str] = {doc.folder: package_markdown(rules, doc, examples, outcomes is not None) for doc in docs}
    policy = rules.policy_set
    sections = [("policy", index_markdown(rules, docs, book, lambda folder: f"#{folder}"))]
    sections.extend((folder, text) for folder, text in pages.items())
    files = {"index.md": index_markdown(rules, docs, book, lambda folder: f"{folder}/index.md")}
    files.update({f"{folder}/index.md": text for folder, text in pages.items()})
    files["index.html"] = html_page(f"{policy['name']} {policy['version']}", sections)
    # the whole site is written beside `output`, then renamed into place: never a cut page under its final name
    with directory_replaced_atomically(output) as site:
        for relative, text in files.items():
            target = site / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    written = [output / relative for relative in files]
    return Written(written, outcomes is not None)
