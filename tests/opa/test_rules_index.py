"""The rules index (rules/rules.index) is what OPA reads from the rules: regenerated with the
pinned OPA it equals the checked-in file, the embedded path reads METADATA, built-in use,
test sections and data use from it while it is in step with the modules, and rules edited
since are read by OPA in memory (cached), never by a reader of our own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fixture_rules import write_fixture_rules
from tos_policy.cli.main import main
from tos_policy.errors import RulesError
from tos_policy.policy.index import INDEX_FILE, build_index, index_matches, index_text, read_index
from tos_policy.policy.ruleset import load_rules
from tos_policy.release.policy_docs import package_docs, rego_tests
from tos_policy.resources import default_rules_dir

pytestmark = pytest.mark.opa


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    return copy


def _sources(rules_dir: Path) -> dict[str, str]:
    return {path.relative_to(rules_dir).as_posix(): path.read_text() for path in rules_dir.rglob("*.rego")}


def test_the_checked_in_index_is_in_step_with_the_rules(opa_bin: Path) -> None:
    rules_dir = default_rules_dir()
    regenerated = index_text(build_index(rules_dir, opa_bin))
    assert (rules_dir / INDEX_FILE).read_text(encoding="utf-8") == regenerated, "run `tos-policy index`"


def test_the_fixture_copy_restamps_its_index_as_opa_would(tmp_path: Path, opa_bin: Path) -> None:
    """tests/fixture_rules.py pins package versions without OPA: its index says what OPA says."""
    fixture = write_fixture_rules(tmp_path / "rules")
    assert read_index(fixture) == build_index(fixture, opa_bin)


def test_the_embedded_path_reads_metadata_from_the_index(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    index = read_index(copy)
    assert index is not None
    index["rules"]["TOS-OWN"]["title"] = "As OPA read it"  # the modules are untouched: the index is in step
    (copy / INDEX_FILE).write_text(index_text(index))
    assert load_rules(copy).rules["TOS-OWN"].title == "As OPA read it"


def test_edited_rules_are_read_by_opa_in_memory_and_cached(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    checked_in = (copy / INDEX_FILE).read_text()
    module = copy / "ownership" / "ownership.rego"
    module.write_text(module.read_text().replace("title: Ownership restriction", "title: Ownership restrictions"))
    assert not index_matches(read_index(copy), _sources(copy))
    assert load_rules(copy).rules["TOS-OWN"].title == "Ownership restrictions"
    assert (copy / INDEX_FILE).read_text() == checked_in  # the rules folder is not written
    (copy / INDEX_FILE).unlink()  # no index at all: the same, from the cache
    assert load_rules(copy).rules["TOS-OWN"].title == "Ownership restrictions"


def test_processes_building_the_same_index_at_once_all_succeed(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    (copy / INDEX_FILE).unlink()
    script = "import sys; from tos_policy import load_rules; print(load_rules(sys.argv[1]).rules['TOS-OWN'].title)"
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(copy)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        assert out.strip() == b"Ownership restriction"


def test_a_forbidden_built_in_in_edited_rules_is_refused_naming_the_line(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    module = copy / "ownership" / "ownership.rego"
    source = module.read_text() + '\n_stamp := time["now_ns"]()\n'
    module.write_text(source)
    with pytest.raises(RulesError, match=r"time\.now_ns.*\(line " + str(source.count("\n")) + r"\)"):
        load_rules(copy)


def test_the_host_zone_in_edited_rules_is_refused(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    module = copy / "ownership" / "ownership.rego"
    module.write_text(module.read_text() + '\n_zone := "Local"\n')
    with pytest.raises(RulesError, match="host's time zone"):
        load_rules(copy)


def test_a_module_opa_cannot_parse_is_refused(tmp_path: Path) -> None:
    """rego-cpp accepts (and runs) this spelling of a forbidden built-in; OPA refuses to parse it."""
    copy = _copy(tmp_path)
    (copy / "ownership" / "broken.rego").write_text('package ownership\n\nx := time [ "now_ns" ] ()\n')
    result = CliRunner().invoke(main, ["validate", "--rules", str(copy)])
    assert result.exit_code == 3 and result.stdout == ""
    assert "broken.rego" in result.stderr and "the rules do not compile (read by OPA" in result.stderr


def test_the_docs_read_test_sections_and_data_use_from_what_opa_read(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    tests = copy / "ownership" / "ownership_test.rego"
    source = tests.read_text()
    section = source.index("# Rule 2 (TOS-OWN-2)")
    tests.write_text(
        source[:section] + "# Rule 3 (TOS-OWN-3): moved\n" + source[section + source[section:].index("\n") + 1 :]
    )
    rules = load_rules(copy)
    ownership = next(doc for doc in package_docs(rules) if doc.folder == "ownership")
    sections = {test.rule_id for test in rego_tests(rules, "ownership", None)}
    assert "TOS-OWN-2" not in sections and "TOS-OWN-3" in sections
    assert "threshold_percent" in ownership.fields["TOS-OWN-2"]
