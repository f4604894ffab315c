"""Policy engines behind one small interface: decide a batch of step inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tos_policy.policy.ruleset import RuleSet


# The rules the evaluator queries, as "package/rule": the one place these names are
# written in Python. Each is annotated `entrypoint: true` in its rule's METADATA
# (a test keeps the two in step).
OWNERSHIP_BATCH = "ownership/batch"
OWNERSHIP_CONSIDERED = "ownership/considered"  # what the rules found short of restricting (explains an allow)
ACCESS_RESULT = "access/result"
ENTRYPOINTS = (OWNERSHIP_BATCH, OWNERSHIP_CONSIDERED, ACCESS_RESULT)


def data_ref(entrypoint: str) -> str:
    """ "ownership/batch" -> "data.ownership.batch"."""
    return "data." + entrypoint.replace("/", ".")


class Engine(Protocol):
    """Runs the ownership step rule (data.ownership.batch) on one batch.

    A batch is {"profile": NAME, "reading": "lower" | "upper", "items": [...]},
    each item {"scale", "entity", "links"}; the result has one step result per
    item, in order."""

    name: str

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def check_results(items: list[dict[str, Any]], results: Any, engine: str) -> list[dict[str, Any]]:
    """A result for every item, each with a boolean verdict, or an EngineError: never a silent allow."""
    from tos_policy.errors import EngineError

    if not isinstance(results, list) or len(results) != len(items):
        raise EngineError(f"{engine}: the rules returned no decision for the batch (undefined or malformed result)")
    for item, result in zip(items, results, strict=True):
        if not isinstance(result, dict) or not isinstance(result.get("restricted"), bool):
            raise EngineError(f"{engine}: the rules returned a malformed step result: {result!r:.200}")
        if not isinstance(result.get("reasons"), list):
            raise EngineError(f"{engine}: the rules returned a step result without reasons: {result!r:.200}")
        _check_reasons(result["reasons"], len(item.get("links") or ()), engine)
    return results


def make_engine(
    rules: RuleSet,
    name: str = "embedded",
    *,
    opa_url: str | None = None,
    timeout: float = 10.0,
    load_rules: bool = True,
    follow_redirects: bool = False,
    proxies_from_env: bool = False,
) -> Engine:
    """The engine `name` for these rules: "embedded" (rego-cpp in process, the default),
    "wasm" (the rules compiled by OPA to WebAssembly, in process: engines/compiled.py says
    where the module comes from), "auto" (wasm when a module is at hand or can be built,
    else embedded) or "opa" (a running OPA server; its HTTP client, requests from the `[opa]`
    extra, is imported only here)."""
    from tos_policy.errors import EngineError, InputError

    if name not in ("auto", "wasm", "embedded", "opa"):
        raise InputError("unknown engine (known: auto, wasm, embedded, opa)", file="--engine", path="$", value=name)
    if name != "opa" and not load_rules:
        raise InputError("--opa-no-load needs --engine opa", file="--opa-no-load", path="$", value=True)
    if name in ("auto", "wasm"):
        from tos_policy.engines.compiled import module_for

        module = module_for(rules)
        if module is not None:
            from tos_policy.engines.wasm import WasmEngine

            return WasmEngine(rules, module)
        if name == "wasm":
            raise EngineError(
                "wasm: no compiled rules for these rules and no OPA binary to compile them "
                "(install OPA or set OPA_BINARY, or use --engine embedded)"
            )
    if name in ("auto", "embedded"):
        from tos_policy.engines.embedded import EmbeddedEngine

        return EmbeddedEngine(rules)
    if not opa_url:
        raise InputError("--engine opa needs --opa-url", file="--opa-url", path="$", value=opa_url)
    try:
        from tos_policy.engines.opa import OpaEngine
    except ImportError as exc:
        raise EngineError(
            f"the OPA engine needs the [opa] extra: pip install 'tos-policy[opa]' ({exc.name} is missing)"
        ) from None
    return OpaEngine(
        rules,
        opa_url,
        timeout=timeout,
        load_rules=load_rules,
        follow_redirects=follow_redirects,
        proxies_from_env=proxies_from_env,
    )


def _check_reasons(reasons: list[Any], links: int, engine: str) -> None:
    """Each reason an object whose cited links are indexes of the item's links: an index
    out of range (or -1, which Python would read as the last link) is an engine fault."""
    from tos_policy.errors import EngineError

    for reason in reasons:
        if not isinstance(reason, dict):
            raise EngineError(f"{engine}: the rules returned a reason that is not an object: {reason!r:.200}")
        cited = reason.get("links", [])
        if not isinstance(cited, list) or not all(type(index) is int and 0 <= index < links for index in cited):
            raise EngineError(
                f"{engine}: the rules cited links that the step input does not have "
                f"(indexes {cited!r:.100}, the input has {links} link(s))"
            )
