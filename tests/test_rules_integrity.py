"""The rules directory is what is decided with, digested and published: nothing from
outside it (symbolic links), no silently doubled data key, no bytes that are not UTF-8,
no rule only OPA can compile, and no built-in or zone that reads the host's time zone.
Each is refused with exit 2 and one line naming the file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main
from tos_policy.engines.opa_server import opa_binary
from tos_policy.policy.integrity import builtin_uses, check_rules, parse_module, string_literals
from tos_policy.policy.ruleset import load_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
CHAIN = str(ROOT / "examples" / "chain.json")
PROFILE = Path("ownership/profiles/terms_of_service/data.json")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def refused(result: Result, *named: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout[:200], result.stderr)
    assert result.stdout == ""
    lines = result.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1, result.stderr
    for text in named:
        assert text in lines[0], result.stderr


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def both_commands(rules: Path) -> list[list[str]]:
    return [["validate", "--rules", str(rules)], ["evaluate", CHAIN, "--rules", str(rules)]]


# --- Symbolic links


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_symlink_out_of_the_rules_directory_is_refused(rules: Path, tmp_path: Path, kind: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.rego").write_text("package evil\n\nx := 1\n")
    link = rules / ("evil.rego" if kind == "file" else "evil")
    link.symlink_to(outside / "evil.rego" if kind == "file" else outside)
    for command in [*both_commands(rules), ["bundle", "-o", str(tmp_path / "b.tar.gz"), "--rules", str(rules)]]:
        refused(run(*command), str(link), "symbolic link leads out of the rules directory")
    assert not (tmp_path / "b.tar.gz").exists()


def test_a_symlink_to_data_outside_is_refused(rules: Path, tmp_path: Path) -> None:
    profile = rules / PROFILE
    elsewhere = tmp_path / "elsewhere.json"
    data = json.loads(profile.read_text())
    data["threshold_percent"] = 0
    elsewhere.write_text(json.dumps(data))
    profile.unlink()
    profile.symlink_to(elsewhere)
    for command in both_commands(rules):
        refused(run(*command), str(profile), "symbolic link")


def test_a_symlink_inside_the_rules_directory_is_followed(rules: Path) -> None:
    (rules / "notes").mkdir()
    (rules / "notes" / "readme.txt").write_text("x")
    (rules / "alias.txt").symlink_to(rules / "notes" / "readme.txt")
    assert run("validate", "--rules", str(rules)).exit_code == 0


# --- Duplicate keys and non-JSON numbers in data


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace('"root_country_fields":', '"root_country_fields": [],\n  "root_country_fields":', 1),
        lambda text: text.replace('"threshold_percent":', '"threshold_percent": 99,\n  "threshold_percent":', 1),
    ],
    ids=["root_country_fields twice", "threshold_percent twice"],
)
def test_a_duplicate_key_in_a_profile_is_refused(rules: Path, edit: object) -> None:
    profile = rules / PROFILE
    text = profile.read_text()
    assert callable(edit)
    changed = edit(text)
    assert changed != text
    profile.write_text(changed)
    for command in both_commands(rules):
        refused(run(*command), str(profile), "duplicate key")


def test_a_duplicate_key_in_any_data_file_is_refused(rules: Path) -> None:
    manifest = rules / "manifest.json"
    manifest.write_text(manifest.read_text().replace("{", '{"policy_set": {}, ', 1))
    refused(run("validate", "--rules", str(rules)), str(manifest), "policy_set")


def test_nan_in_data_is_refused(rules: Path) -> None:
    profile = rules / PROFILE
    profile.write_text(profile.read_text().replace('"threshold_percent": 50', '"threshold_percent": NaN', 1))
    refused(run("validate", "--rules", str(rules)), str(profile), "NaN")


# --- Encoding


@pytest.mark.parametrize("suffix", [".rego", ".json"])
def test_a_file_that_is_not_utf8_is_refused_naming_it(rules: Path, suffix: str) -> None:
    bad = rules / "ownership" / f"latin1{suffix}"
    bad.write_bytes(b"package latin1\n\n# caf\xe9\nx := 1\n" if suffix == ".rego" else b'{"caf\xe9": 1}')
    for command in both_commands(rules):
        refused(run(*command), str(bad), "not UTF-8", "line" if suffix == ".rego" else "byte")


# --- Only what the embedded engine compiles


OPA_ONLY = {
    "every as a rule body without braces": "x if every y in [1] { y == 1 }",
    "every after if, in a partial set rule": "s contains 1 if every y in [1] { y == 1 }",
}


@pytest.mark.opa
@pytest.mark.parametrize("name", sorted(OPA_ONLY))
def test_a_rule_only_opa_compiles_fails_validate(rules: Path, name: str) -> None:
    module = rules / "integrity" / "integrity.rego"
    module.parent.mkdir()
    module.write_text(f"package integrity\n\n{OPA_ONLY[name]}\n")
    checked = subprocess.run([str(opa_binary()), "check", "--strict", str(module)], capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout  # OPA accepts it
    result = run("validate", "--rules", str(rules))
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert f"{module}: " in result.stderr and "embedded engine (rego-cpp) cannot compile" in result.stderr


# --- Time zones


ZONE_MODULES = {
    "the host's zone as a string": 'zone := "Local"\n\nx := 1',
    "the host's zone in a call": 'x := time.clock([0, "Local"])',
    "time.date in UTC": 'x := time.date([0, "UTC"])',
    "time.weekday by reference": "f := time.weekday",
    "time.parse_ns": 'x := time.parse_ns("2006-01-02 MST", "2025-01-01 EST")',
    "time.format in a template": 'x := $"at {time.format(0)}"',
    "time.diff": "x := time.diff(0, 1)",
}


@pytest.mark.opa  # edited rules are read by OPA (the rules index is out of step)
@pytest.mark.parametrize("name", sorted(ZONE_MODULES))
def test_zone_reading_built_ins_and_the_host_zone_are_refused(rules: Path, name: str) -> None:
    module = rules / "zones" / "zones.rego"
    module.parent.mkdir()
    module.write_text(f"package zones\n\n{ZONE_MODULES[name]}\n")
    for command in both_commands(rules):
        refused(run(*command), f"{module}: line 3:")


@pytest.mark.opa
@pytest.mark.parametrize("name", sorted(ZONE_MODULES))
def test_validates_ast_check_refuses_each_zone_reader_naming_its_line(tmp_path: Path, name: str) -> None:
    module = tmp_path / "zones.rego"
    module.write_text(f"package zones\n\n{ZONE_MODULES[name]}\n")
    ast = parse_module(opa_binary(), module)
    names = {use[0] for use in builtin_uses(ast)}
    literals = {literal[0] for literal in string_literals(ast)}
    assert "Local" in literals or any(name.startswith("time.") for name in names)
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "zones").mkdir()
    (rules / "zones" / "zones.rego").write_text(module.read_text())
    loaded_source = (rules / "zones" / "zones.rego").read_text()
    from tos_policy.errors import RulesError
    from tos_policy.policy.integrity import check_sandbox_with_opa
    from tos_policy.policy.ruleset import RuleSet

    shipped = load_rules(RULES)
    with_zone = RuleSet(
        rules, {**shipped.modules, "zones/zones.rego": loaded_source}, {}, shipped.data, shipped.digest + name, {}
    )
    with pytest.raises(RulesError, match="line 3"):
        check_sandbox_with_opa(with_zone, opa_binary())


@pytest.mark.opa
def test_ast_reading_spells_every_reference_as_a_dotted_name(tmp_path: Path) -> None:
    module = tmp_path / "m.rego"
    module.write_text(
        'package m\n\nx := time["clock"](0)\n\ny := opa[\n\t"runtime"\n]()\n\n# time.now_ns()\nz := "time.now_ns"\n'
    )
    uses = builtin_uses(parse_module(opa_binary(), module))
    assert ("time.clock", 3) in uses
    assert ("opa.runtime", 5) in uses
    assert not any(name == "time.now_ns" for name, _ in uses)  # a comment and a string are not code


@pytest.mark.opa
def test_the_shipped_rules_pass_validate_with_opa() -> None:
    result = run("validate", "--opa", str(opa_binary()))
    assert result.exit_code == 0, result.stderr
    assert "sandbox: opa parse (AST)" in result.stdout
    assert check_rules(load_rules(RULES), opa_binary()).startswith("opa parse")
