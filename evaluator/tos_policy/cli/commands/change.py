"""Rule changes by pull request: `check-change` (the gate), `diff` (the impact report),
`docs` (the readable policy) and `corpus` (the decision corpus's expected decisions).

The work is in evaluator/tos_policy/release/change.py, history.py, corpus.py and policy_docs.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tos_policy.atomic import replaced_atomically
from tos_policy.cli.params import IsoDate
from tos_policy.cli.support import fail_cleanly, parse_as_of, rules_option
from tos_policy.errors import InputError
from tos_policy.policy.index import INDEX_FILE, write_index
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.change import GateResult, classify, gate, gate_text
from tos_policy.release.corpus import (
    AccessSet,
    Corpus,
    Outcomes,
    corpus_dir,
    decide_corpus,
    decided_by_file,
    load_corpus,
    load_fact_sets,
    mismatches,
    write_expected,
)
from tos_policy.release.history import (
    WORKTREE,
    changed_files,
    checkout_free,
    main_tip,
    merge_base,
    repo_root,
    rules_dir_at,
    short,
)
from tos_policy.release.impact import Side, compare, describe_files, impact_json, impact_markdown, impact_text
from tos_policy.release.policy_docs import find_opa, write_docs
from tos_policy.release.profile_pages import update_pages
from tos_policy.reports.display import printable

repo_option = click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="A directory inside the git repository of the rules.",
)
base_option = click.option(
    "--base",
    default=None,
    help="Revision (commit, branch, tag) to compare with. Default: the merge base of HEAD with main (or origin/main).",
)
head_option = click.option(
    "--head",
    default=None,
    help="Revision to check. Default: the working tree, uncommitted and untracked files included.",
)


def _base(repo: Path, base: str | None) -> tuple[str, str]:
    """(revision, label) of the base."""
    if base is not None:
        return base, short(repo, base)
    commit, description = merge_base(repo)
    return commit, f"{commit[:10]} ({description})"


def _corpus(repo: Path) -> Corpus | None:
    directory = corpus_dir(repo)
    return load_corpus(directory, repo) if (directory / "expected.json").is_file() else None


@click.command("check-change")
@base_option
@head_option
@repo_option
@click.option(
    "--tip",
    default=None,
    help="The current tip of the branch the change lands on; a version it already carries is refused. "
    "Default: main (or origin/main) when it exists.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the impact report (Markdown: what changed, the verdict, the decisions that move) here.",
)
@click.option(
    "--docs",
    "docs_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also render the policy in plain English (as `tos-policy docs -o DIR`) from the working tree.",
)
@fail_cleanly
def check_change_command(
    base: str | None,
    head: str | None,
    repo: Path,
    tip: str | None,
    fmt: str,
    report: Path | None,
    docs_dir: Path | None,
) -> None:
    """Refuse a change of rules/ or schemas/ whose version, changelog or expected decisions did not move with it.

    Exit 0: the change is versioned as it should be (or nothing changed); 1: refused,
    with what to do; 2: bad input (not a git repository, unknown revision, bad rules)."""
    top = repo_root(repo)
    base_rev, base_label = _base(top, base)
    head_rev = head or WORKTREE
    corpus = _corpus(top)
    result = gate(
        top,
        base_rev,
        head_rev,
        base_label=base_label,
        fact_sets=corpus.fact_sets if corpus else None,
        as_of=corpus.as_of if corpus else parse_as_of(None),
        profile=corpus.profile if corpus else None,
        tip_rev=tip if tip is not None else main_tip(top),
        access_sets=corpus.access_sets if corpus else None,
    )
    if corpus is not None and result.files:
        with checkout_free(top, head_rev) as tree:
            head_rules = tree.load()
        wrong = mismatches(corpus, decide_corpus(corpus, head_rules))
        if wrong:
            shown = "; ".join(wrong[:5]) + (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else "")
            result.error(
                f"tests/corpus/expected.json does not hold the decisions of the new rules ({shown}): run "
                "`tos-policy corpus --update`, check each changed decision is intended, and commit it with the change."
            )
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), indent=2, sort_keys=True))
    else:
        click.echo(printable(gate_text(result), keep_newlines=True), nl=False)
    if report is not None:
        _write_report(report, result)
        click.echo(f"impact report: {report}")
    if docs_dir is not None:
        with checkout_free(top, head_rev) as tree:
            written = write_docs(tree.load(), docs_dir, as_of=parse_as_of(None), corpus=corpus, opa=find_opa(None, top))
        click.echo(f"policy docs: {docs_dir / 'index.html'}")
        if not written.tests_ran:
            click.echo("note: OPA not found, so the worked examples' outcomes were not run", err=True)
    if not result.ok:
        sys.exit(1)


def _write_report(report: Path, result: GateResult) -> None:
    """The impact report with what changed and the gate's verdict (also when nothing changed)."""
    verdict = "passed: the version and changelog match the change." if result.ok else "**refused**: see below."
    findings = [f"{'refused' if item.severity == 'error' else 'warning'}: {item.message}" for item in result.findings]
    if result.impact is None:
        lines = [f"## Policy impact: {result.base_version} → {result.head_version}", "", f"**Change gate:** {verdict}"]
        lines.extend(f"- {finding}" for finding in findings)
        if not result.files:
            lines.extend(["", "No file under rules/ or schemas/ changed: no decision can change."])
        text = "\n".join(lines) + "\n"
    else:
        result.impact.rule_changes = describe_files([(item.path, item.level, item.why) for item in result.files])
        result.impact.verdict = verdict
        result.impact.findings = findings
        text = impact_markdown(result.impact)
    with replaced_atomically(report) as temporary:
        temporary.write_text(text, encoding="utf-8")


@click.command("diff")
@click.argument("facts_files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@base_option
@head_option
@repo_option
@click.option(
    "--as-of", type=IsoDate(), default=None, help="Date the facts are read at. Default: the corpus's date, else today."
)
@click.option("--profile", default=None, help="Policy profile (default: each revision's default).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@fail_cleanly
def diff_command(
    facts_files: tuple[Path, ...],
    base: str | None,
    head: str | None,
    repo: Path,
    as_of: str | None,
    profile: str | None,
    fmt: str,
) -> None:
    """The entities whose decision changes between two revisions of the rules (default facts: tests/corpus).

    Both revisions are read from git, without a checkout. Markdown is meant for a
    pull-request comment."""
    top = repo_root(repo)
    base_rev, base_label = _base(top, base)
    head_rev = head or WORKTREE
    access_sets: list[AccessSet] = []
    if facts_files:
        fact_sets = load_fact_sets(facts_files, Path.cwd())
        day = parse_as_of(as_of)
    else:
        corpus = _corpus(top)
        if corpus is None:
            raise InputError(
                "no FACTS given and no decision corpus (tests/corpus/expected.json)", file=str(top), value="FACTS"
            )
        fact_sets, access_sets = corpus.fact_sets, corpus.access_sets
        day = parse_as_of(as_of) if as_of else corpus.as_of
        profile = profile or corpus.profile
    with checkout_free(top, base_rev) as base_tree, checkout_free(top, head_rev) as head_tree:
        old = Side(base_label, base_rev, base_tree.commit, base_tree.load())
        new = Side(short(top, head_rev), head_rev, head_tree.commit, head_tree.load())
        files = [
            (path, *classify(path, status, base_tree.root, head_tree.root))
            for path, status in changed_files(top, base_rev, head_rev).items()
        ]
    impact = compare(old, new, fact_sets, as_of=day, profile=profile, access_sets=access_sets)
    impact.rule_changes = describe_files(files)
    render = {"text": impact_text, "json": impact_json, "markdown": impact_markdown}[fmt]
    click.echo(printable(render(impact), keep_newlines=True), nl=False)


@click.command("docs")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write index.md, <package>/index.md and index.html into (created).",
)
@rules_option
@click.option("--rules-ref", default=None, help="Document the rules as they were at this git revision or tag.")
@click.option(
    "--corpus",
    "corpus_path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Decision corpus for worked examples. Default: tests/corpus of the repository, when there is one.",
)
@click.option("--opa", type=click.Path(dir_okay=False, path_type=Path), default=None, help="OPA binary to run tests.")
@click.option("--as-of", type=IsoDate(), default=None, help="Date the exceptions are listed at. Default: today (UTC).")
@fail_cleanly
def docs_command(
    output: Path,
    rules_dir: Path | None,
    rules_ref: str | None,
    corpus_path: Path | None,
    opa: Path | None,
    as_of: str | None,
) -> None:
    """Render every rule from its METADATA and data into Markdown and one static HTML page."""
    if opa is not None and not opa.is_file():
        raise InputError("no OPA binary here", file="--opa", value=str(opa))
    repo = _repo_or_none(rules_dir)
    corpus = None
    if corpus_path is not None:
        corpus = load_corpus(corpus_path)
    elif repo is not None:
        corpus = _corpus(repo)
    with rules_dir_at(rules_ref, rules_dir) as directory:
        rules = load_rules(directory)
        written = write_docs(rules, output, as_of=parse_as_of(as_of), corpus=corpus, opa=find_opa(opa, repo))
    for path in written.files:
        click.echo(f"wrote {path}")
    if not written.tests_ran:
        click.echo("note: OPA not found, so the worked examples' outcomes were not run (--opa PATH)", err=True)


def _repo_or_none(start: Path | None) -> Path | None:
    try:
        return repo_root(start if start is not None else ".")
    except InputError:
        return None


@click.command("corpus")
@click.option("--update", is_flag=True, help="Rewrite expected.json with the decisions of the current rules.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The corpus directory. Default: tests/corpus of the repository.",
)
@rules_option
@fail_cleanly
def corpus_command(update: bool, directory: Path | None, rules_dir: Path | None) -> None:
    """Check (or with --update, rewrite) the decision corpus's expected decisions against the rules."""
    if directory is None:
        repo = _repo_or_none(None) or Path.cwd()
        directory = corpus_dir(repo)
    corpus = load_corpus(directory)
    rules = load_rules(rules_dir)
    outcomes = decide_corpus(corpus, rules)
    wrong = mismatches(corpus, outcomes)
    if update:
        target = write_expected(corpus, outcomes)
        click.echo(f"wrote {target} ({len(wrong)} change(s))")
        for line in wrong:
            click.echo(f"  {printable(line)}")
        _move_page_decisions(corpus, outcomes, rules)
        return
    if wrong:
        for line in wrong:
            click.echo(printable(line))
        click.echo(f"{len(wrong)} decision(s) differ from expected.json: if intended, run `tos-policy corpus --update`")
        sys.exit(1)
    files = len(outcomes.reports) + len(outcomes.access)
    click.echo(f"corpus: {files} files, {outcomes.decisions} decisions as expected (policy {rules.version})")


@click.command("post-report")
@click.argument("report", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--repo", "github_repo", required=True, help="OWNER/NAME of the GitHub repository.")
@click.option("--pr", "number", type=int, required=True, help="The pull request's number.")
@click.option("--artifact-url", default=None, help="Where the whole report is kept (linked when it is cut).")
@click.option("--summary-url", default=None, help="The run whose job summary holds the report (linked when it is cut).")
@fail_cleanly
def post_report_command(
    report: Path, github_repo: str, number: int, artifact_url: str | None, summary_url: str | None
) -> None:
    """Post REPORT (the Markdown impact report) as the pull request's one impact-report comment.

    Exit 0 even when GitHub refuses (a fork's read-only token): the reason is printed
    as a workflow warning, and the report stays in the job summary and the artifact."""
    from tos_policy.release.pr_comment import post, sticky_body

    body = sticky_body(report.read_text(encoding="utf-8"), artifact_url=artifact_url, summary_url=summary_url)
    posted = post(github_repo, number, body)
    if posted.ok:
        click.echo(f"impact report {posted.action}: {posted.detail}")
    else:
        click.echo(f"::warning title=Impact report not posted::{posted.detail}")


@click.command("bump")
@click.argument("level", required=False, type=click.Choice(["major", "minor", "patch"]))
@base_option
@repo_option
@click.option("--effective", default=None, help="The day the new version takes effect (YYYY-MM-DD). Default: today.")
@fail_cleanly
def bump_command(level: str | None, base: str | None, repo: Path, effective: str | None) -> None:
    """Version a change of the rules: policy and package versions, effective dates, a CHANGELOG
    section naming what changed (old -> new values) and the corpus's expected decisions.

    LEVEL (major, minor or patch) defaults to the level the change needs; a smaller one is
    refused. Run it again after any further edit: it counts from the base, so it converges."""
    from tos_policy.release.bump import apply, plan

    top = repo_root(repo)
    base_rev, base_label = _base(top, base)
    corpus = _corpus(top)
    day = parse_as_of(effective) if effective else parse_as_of(None)
    if corpus is not None:  # first: a profile page whose stated decision moves is part of what gets versioned
        edited = load_rules(top / "rules")
        _move_page_decisions(corpus, decide_corpus(corpus, edited), edited)
    result = gate(
        top,
        base_rev,
        WORKTREE,
        base_label=base_label,
        fact_sets=corpus.fact_sets if corpus else None,
        as_of=corpus.as_of if corpus else day,
        profile=corpus.profile if corpus else None,
        access_sets=corpus.access_sets if corpus else None,
    )
    tip = main_tip(top)
    tip_version = None
    if tip is not None:
        with checkout_free(top, tip, ("rules",)) as tip_tree:
            tip_version = tip_tree.load().version
    bump = apply(top, base_rev, result, plan(result, level, tip_version, day))
    click.echo(f"policy version {bump.old_version} -> {bump.version} ({bump.level}), effective {bump.effective_date}")
    for file, (old, new) in bump.packages.items():
        click.echo(f"package {file}: {old} -> {new}")
    if bump.changelog_written:
        click.echo(f"CHANGELOG.md: new section {bump.version}; replace its TODO with a sentence saying what changes")
    else:
        click.echo(f"CHANGELOG.md: the section for {bump.version} is already there (left as it is)")
    rules = load_rules(top / "rules")  # the bumped rules: read by OPA, their index being out of step
    if write_index(top / "rules", rules.index):
        click.echo(f"rules/{INDEX_FILE}: regenerated (what OPA reads from the bumped rules)")
    if corpus is not None:
        outcomes = decide_corpus(corpus, rules)
        wrong = mismatches(corpus, outcomes)
        write_expected(corpus, outcomes)
        click.echo(f"tests/corpus/expected.json: {len(wrong)} decision(s) changed")


def _move_page_decisions(corpus: Corpus, outcomes: Outcomes, rules: RuleSet) -> None:
    """Keep the decisions the profile pages state in step with the corpus just written."""
    default_profile = corpus.profile or str(rules.policy_set["default_profile"])
    moved = update_pages(rules.root, decided_by_file(outcomes), corpus.profiles, default_profile)
    if moved:
        click.echo(f"moved {len(moved)} decision(s) stated on profile pages to the corpus's:")
        for line in moved:
            click.echo(f"  {printable(line)}")


def register(main: click.Group) -> None:
    for command in (
        check_change_command,
        diff_command,
        docs_command,
        corpus_command,
        post_report_command,
        bump_command,
    ):
        main.add_command(command)
