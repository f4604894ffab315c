"""The rules index (rules/rules.index) is what OPA reads from the rules: regenerated with the
pinned OPA it equals the checked-in file, the embedded path reads METADATA and built-in
use from it while it is in step with the modules, and what it says agrees with the METADATA
comments the fallback reads for edited rules."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from tos_policy.errors import RulesError
from tos_policy.policy.ruleset import _rule_infos, load_rules
from tos_policy.release.rules_index import INDEX_FILE, build_index, index_matches, index_text, read_index
from tos_policy.resources import default_rules_dir

pytestmark = pytest.mark.opa


def test_the_checked_in_index_is_in_step_with_the_rules(opa_bin: Path) -> None:
    rules_dir = default_rules_dir()
    regenerated = index_text(build_index(rules_dir, opa_bin))
    assert (rules_dir / INDEX_FILE).read_text(encoding="utf-8") == regenerated, "run `tos-policy index`"


def test_the_index_gives_what_the_metadata_comments_say() -> None:
    rules = load_rules()
    index = read_index(rules.root)
    assert index is not None and index_matches(index, rules.modules)
    from_comments = _rule_infos(rules.modules)
    assert set(rules.rules) == set(from_comments)
    for rule_id, info in rules.rules.items():
        assert dataclasses.asdict(info) == dataclasses.asdict(from_comments[rule_id]), rule_id


def test_the_embedded_path_reads_metadata_from_the_index(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    index = read_index(copy)
    assert index is not None
    index["rules"]["TOS-OWN"]["title"] = "As OPA read it"  # the modules are untouched: the index is in step
    (copy / INDEX_FILE).write_text(index_text(index))
    assert load_rules(copy).rules["TOS-OWN"].title == "As OPA read it"


def test_a_stale_index_is_not_used(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    module = copy / "ownership" / "ownership.rego"
    module.write_text(module.read_text().replace("title: Ownership restriction", "title: Ownership restrictions"))
    rules = load_rules(copy)
    index = read_index(copy)
    assert index is not None and not index_matches(index, rules.modules)
    assert rules.rules["TOS-OWN"].title == "Ownership restrictions"


def test_a_forbidden_built_in_in_the_index_is_refused(tmp_path: Path, opa_bin: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    module = copy / "ownership" / "ownership.rego"
    module.write_text(module.read_text() + '\n_stamp := time["now_ns"]()\n')
    (copy / INDEX_FILE).write_text(index_text(build_index(copy, opa_bin)))
    assert index_matches(read_index(copy), {"ownership/ownership.rego": module.read_text()} | _others(copy))
    with pytest.raises(RulesError, match=r"time\.now_ns"):
        load_rules(copy)


def test_the_host_zone_in_the_index_is_refused(tmp_path: Path, opa_bin: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    module = copy / "ownership" / "ownership.rego"
    module.write_text(module.read_text() + '\n_zone := "Local"\n')
    (copy / INDEX_FILE).write_text(index_text(build_index(copy, opa_bin)))
    with pytest.raises(RulesError, match="host's time zone"):
        load_rules(copy)


def _others(rules_dir: Path) -> dict[str, str]:
    """The modules (tests apart) of `rules_dir` other than ownership.rego, by relative path."""
    return {
        path.relative_to(rules_dir).as_posix(): path.read_text()
        for path in rules_dir.rglob("*.rego")
        if not path.name.endswith("_test.rego") and path.name != "ownership.rego"
    }
