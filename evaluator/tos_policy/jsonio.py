"""The one strict JSON reader of tos-policy: every JSON text the evaluator reads goes through here.

Facts (JSON documents and JSON Lines, for every command), rule data and profiles,
exceptions, access requests, importers' records and the engines' answers are all read
with these functions, so that they accept and refuse exactly the same texts:

- `loads(data, file=..., line=...)`: one JSON text (a file, or one line of a JSON Lines file);
- `decode_at(text, position, ...)`: one JSON value inside a longer text (an importer's array);
- `iter_lines(handle, file=...)`: the values of a JSON Lines stream, one per non-blank line;
- `engine_answer(raw, engine=...)`: an engine's answer; any fault is an EngineError (exit 3).

Refused, wherever it appears: a duplicate key in one object, NaN, Infinity and
-Infinity, a number too large for a double (1e999, a 400-digit integer: every engine
reads numbers as doubles, so such a number would change meaning on the way), text
that is not UTF-8, a lone surrogate (\\uD800), nesting past a limit, and anything that
is not exactly one JSON value. A refusal is an InputError (exit 2) whose location has
one format for every reader: ``line N $.json.path`` inside a JSON Lines file (N from
1), ``$.json.path`` inside a whole document; the value is the offending key, constant
or a few characters around the fault.

Numbers with a fraction or exponent are exact Decimals unless `exact=False` (engine
answers, which are doubles already). The reader is the standard library's json module
with hooks; nothing else in the package should call json.loads, json.load or
orjson.loads on input.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

from tos_policy.errors import EngineError, InputError

DEFAULT_MAX_DEPTH = 64  # as Limits().max_json_depth; repeated here so this module imports nothing of the package's


class _Refused(ValueError):
    """Raised inside the decoder's hooks; turned into an InputError with a location by `loads`."""

    def __init__(self, message: str, value: Any, token: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.value = value
        self.token = token  # what to look for in the text to find the JSON path


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r} in one object", key, token=key)
            seen.add(key)
    return result


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number (NaN and Infinity are refused)", name, token=name)


def _finite(value: float | int | Decimal, literal: str) -> None:
    try:
        as_double = float(value)
    except OverflowError:
        as_double = math.inf
    if not math.isfinite(as_double):
        raise _Refused("a number too large for a double (not finite)", literal[:40], token=literal)


def _exact_float(literal: str) -> Decimal:
    value = Decimal(literal)
    _finite(value, literal)
    return value


def _double(literal: str) -> float:
    value = float(literal)
    _finite(value, literal)
    return value


def _int(literal: str) -> int:
    value = int(literal)
    if len(literal) > 300:  # only a literal this long can exceed a double's range
        _finite(value, literal)
    return value


_EXACT = json.JSONDecoder(parse_float=_exact_float, parse_int=_int, parse_constant=_constant, object_pairs_hook=_object)
_DOUBLE = json.JSONDecoder(parse_float=_double, parse_int=_int, parse_constant=_constant, object_pairs_hook=_object)

# JSON strings (escapes included), and the characters that are not brackets.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
# A \uD800-\uDFFF escape: half of a surrogate pair, or a lone surrogate that is not text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]|[^\s\[\]{},:"]+')


def location(path: str = "$", line: int | None = None) -> str:
    """The one way every reader names a place: `line 3 $.owner` in JSON Lines, `$.owner` in a document."""
    return path if line is None else f"line {line} {path}"


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short_path(parts: list[Any]) -> str:
    parts = list(itertools.takewhile(lambda part: part is not None, parts))  # an object not yet at a key
    if len(parts) > 12:  # a path thousands of levels long would not be a readable line
        return json_path(parts[:10]) + f"...({len(parts) - 10} more levels)"
    return json_path(parts)


def _walk(text: str) -> Iterator[tuple[re.Match[str] | None, list[list[Any]], bool]]:
    """Token by token (no recursion): each token, the stack of [bracket, key or index, keys seen]
    it is inside, and whether it is an object's key; last, None and the stack at the end."""
    stack: list[list[Any]] = []
    tokens = list(_JSON_TOKEN.finditer(text))
    for number, token in enumerate(tokens):
        lexeme = token.group()
        is_key = (
            lexeme.startswith('"')
            and bool(stack)
            and stack[-1][0] == "{"
            and number + 1 < len(tokens)
            and tokens[number + 1].group() == ":"
        )
        yield token, stack, is_key
        if lexeme in ("[", "{"):
            stack.append([lexeme, 0 if lexeme == "[" else None, set()])
        elif lexeme in ("]", "}"):
            if stack:
                stack.pop()
        elif stack and lexeme == ",":
            stack[-1][1] = stack[-1][1] + 1 if stack[-1][0] == "[" else None
        elif is_key:
            key = _string_value(lexeme)
            stack[-1][1] = key
            stack[-1][2].add(key)
    yield None, stack, False


def _string_value(lexeme: str) -> str:
    try:
        value = json.loads(lexeme)
    except ValueError:
        return lexeme
    return value if isinstance(value, str) else lexeme


def _path_of_token(text: str, token: str) -> str:
    """The JSON path where `token` (a duplicated key, a constant, a number) first offends."""
    for match, stack, is_key in _walk(text):
        if match is None:
            break
        lexeme = match.group()
        if is_key:
            key = _string_value(lexeme)
            if key == token and key in stack[-1][2]:
                return _short_path([*(frame[1] for frame in stack[:-1]), key])
        elif lexeme == token:
            return _short_path([frame[1] for frame in stack])
    return "$"


def _path_at_offset(text: str, offset: int) -> str:
    """The JSON path being read at `offset` (where a syntax error was found)."""
    for match, stack, _ in _walk(text):
        if match is None or match.start() >= offset:
            return _short_path([frame[1] for frame in stack])
    return "$"


def _path_past_depth(text: str, max_depth: int) -> tuple[str, int]:
    for match, stack, _ in _walk(text):
        if match is not None and match.group() in ("[", "{") and len(stack) == max_depth:
            return _short_path([frame[1] for frame in stack]), match.start()
    return "$", 0


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text`, without parsing it (and so without recursion)."""
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(1 if char in "[{" else -1 for char in brackets), default=0)


def _text(data: bytes | str, file: str, line: int | None) -> str:
    if isinstance(data, str):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})",
            file=file,
            path=location("$", line),
            value=data[exc.start : exc.start + 8],
        ) from None
    return text[1:] if text[:1] == "\ufeff" else text  # a byte-order mark is harmless


def _check_depth(text: str, file: str, line: int | None, max_depth: int, depth_error: DepthError | None) -> None:
    if nesting_depth(text) <= max_depth:
        return
    path, offset = _path_past_depth(text, max_depth)
    if depth_error is not None:
        raise depth_error(location(path, line), text[offset : offset + 20])
    raise InputError(
        f"JSON nested too deeply (more than {max_depth} levels)",
        file=file,
        path=location(path, line),
        value=text[offset : offset + 20],
    )


DepthError = Callable[[str, str], InputError]


def _decode(decoder: json.JSONDecoder, text: str, position: int, file: str, line: int | None) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, position)
    except json.JSONDecodeError as exc:
        message = exc.msg.removesuffix(" at")  # "Invalid control character at" + " at line ..."
        snippet = text[max(0, exc.pos - 10) : exc.pos + 10]
        where = f"line {exc.lineno} column {exc.colno}" if line is None else f"column {exc.colno}"
        raise InputError(
            f"not valid JSON: {message} at {where}",
            file=file,
            path=location(_path_at_offset(text[position:], exc.pos - position), line),
            value=snippet,
        ) from None
    except _Refused as exc:
        path = _path_of_token(text[position:], exc.token) if exc.token is not None else "$"
        raise InputError(
            f"not valid JSON: {exc.message}", file=file, path=location(path, line), value=exc.value
        ) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", file=file, path=location("$", line), value=text[:40]) from None
    except ArithmeticError:  # decimal.InvalidOperation: 1e1000000000000000000
        raise InputError(
            "not valid JSON: a number whose exponent is out of range", file=file, path=location("$", line), value=None
        ) from None
    except ValueError as exc:  # integers of more than 4,300 digits
        raise InputError(f"not valid JSON: {exc}", file=file, path=location("$", line), value=None) from None


def _check_text(document: Any, file: str, line: int | None) -> None:
    """Every string, key or value, must be Unicode text: no lone surrogates from \\uD800-style escapes."""
    pending: list[tuple[Any, list[Any]]] = [(document, [])]
    while pending:
        node, parts = pending.pop()
        items: Iterable[tuple[Any, Any]] = ()
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        elif isinstance(node, str):
            _require_text(node, file, location(json_path(parts), line))
        for key, value in items:
            if isinstance(key, str):
                _require_text(key, file, location(json_path([*parts, key]), line))
            pending.append((value, [*parts, key]))


def _require_text(value: str, file: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"not Unicode text: a lone surrogate \\u{ord(value[exc.start]):04x} at character {exc.start}",
            file=file,
            path=path,
            value=value,
        ) from None


def loads(
    data: bytes | str,
    *,
    file: str = "<input>",
    line: int | None = None,
    max_depth: int | None = None,
    exact: bool = True,
    depth_error: DepthError | None = None,
) -> Any:
    """Exactly one strict JSON value from `data` (a whole file, or line `line` of a JSON Lines file).

    Every refusal is an InputError naming `file`, the location (see `location`) and the value.
    `depth_error(location, value)` builds the error for nesting past `max_depth` (default 64),
    so that a caller can name the option that raises its limit."""
    text = _text(data, file, line)
    limit = DEFAULT_MAX_DEPTH if max_depth is None else max_depth
    if text.count("[") + text.count("{") > limit:  # cheap bound first: fewer brackets cannot nest deeper
        _check_depth(text, file, line, limit, depth_error)
    decoder = _EXACT if exact else _DOUBLE
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            _decode(decoder, text, len(text) - len(text.lstrip()), file, line)  # raises, naming the place
        where = f"line {exc.lineno} column {exc.colno}" if line is None else f"column {exc.colno}, one value per line"
        raise InputError(
            f"not valid JSON: Extra data, text after the JSON value ({where})",
            file=file,
            path=location("$", line),
            value=text[exc.pos : exc.pos + 40],
        ) from None
    except (ValueError, ArithmeticError, RecursionError):
        _decode(decoder, text, len(text) - len(text.lstrip()), file, line)  # raises, naming the place
        raise
    if "\\" in text and _SURROGATE_ESCAPE.search(text):
        _check_text(value, file, line)
    return value


def decode_at(text: str, position: int, *, file: str, path: str = "$") -> tuple[Any, int]:
    """One strict JSON value starting at `position` in `text` (an item of a long array) and the index
    just past it; errors name `path` (e.g. `$[7]`), the value's place in its file."""
    try:
        value, end = _decode(_EXACT, text, position, file, None)
    except InputError as exc:
        inner = exc.path.removeprefix("$")
        raise InputError(exc.message, file=file, path=path + inner, value=exc.value) from None
    if "\\" in text[position:end] and _SURROGATE_ESCAPE.search(text, position, end):
        try:
            _check_text(value, file, None)
        except InputError as exc:
            raise InputError(exc.message, file=file, path=path + exc.path.removeprefix("$"), value=exc.value) from None
    return value, end


def iter_lines(
    handle: IO[bytes], *, file: str, max_depth: int | None = None, depth_error: DepthError | None = None
) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every non-blank line of a JSON Lines stream, each read by `loads`."""
    for number, raw in enumerate(handle, start=1):
        if raw.strip():
            yield number, loads(raw, file=file, line=number, max_depth=max_depth, depth_error=depth_error)


def engine_answer(raw: bytes | str, *, engine: str, max_depth: int = 1000) -> Any:
    """An engine's answer read by the same strict rules (numbers as doubles); every fault,
    duplicate keys and NaN included, is an EngineError (exit 3): never a lenient allow."""
    try:
        return loads(raw, file=engine, max_depth=max_depth, exact=False)
    except InputError as exc:
        raise EngineError(f"{engine}: malformed answer: {exc.path}: {exc.message} (value: {exc.value!r:.80})") from None
