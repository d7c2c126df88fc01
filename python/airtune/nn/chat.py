"""Chat templates rendered the way transformers does (sandboxed jinja2), bounded in time and size.

A chat template is code from a model folder, so it is untrusted. jinja2's sandbox already blocks
attribute escapes (``__class__``, ``__globals__``, ...) but bounds nothing: nested loops, ``'A' *
4000000000``, ``10 ** (10 ** 8)`` or a loop that doubles a string run for hours or take all memory.
Here every render runs under :class:`TemplateLimits`:

- ``max_seconds``: wall clock of one render, checked at every loop iteration, call, filter,
  operator, attribute access and output chunk;
- ``max_output_bytes``: UTF-8 bytes of the rendered text, counted while it is generated;
- ``max_captured_bytes``: text the template produces out of sight (``{% set %}`` blocks, macro
  bodies, ``{% filter %}`` blocks), counted as it is appended;
- ``max_value_size``: the size of any value the template builds (characters of a string, elements
  of a list or dict counted through nesting), checked before the operations that can make a huge
  value from small inputs (``*``, ``+``, ``%``, ``~``, ``str.format``, ``join``, ``replace``,
  ``center``/``ljust``/``zfill``/``expandtabs``/``translate``, the ``center``, ``indent``,
  ``wordwrap``, ``join``, ``format``, ``batch``, ``sum`` filters, ``lipsum``, ``tojson``) and after
  every call and filter;
- ``max_range``: items of one ``range()``; ``max_int_bits``: size of an integer built by ``*``/``**``;
- ``max_template_bytes``: size of the template source.

Breaking a limit raises :class:`TemplateLimitError` (a ValueError) naming the limit. Templates
within the limits render exactly as transformers renders them (same environment, filters and
globals), which the tests check on Llama 3, ChatML, Mistral and Zephyr-style templates.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, update_wrapper, wraps
from typing import Any

__all__ = ["TemplateLimitError", "TemplateLimits", "render_chat_template"]


@dataclass(frozen=True)
class TemplateLimits:
    """Bounds of one chat-template render (see the module docstring)."""

    max_seconds: float = 10.0
    max_output_bytes: int = 16 * 1024 * 1024
    max_captured_bytes: int = 64 * 1024 * 1024
    max_value_size: int = 16 * 1024 * 1024
    max_range: int = 100_000
    max_int_bits: int = 65_536
    max_template_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"TemplateLimits.{name} must be > 0, got {value!r}")


class TemplateLimitError(ValueError):
    """A chat template broke one of its :class:`TemplateLimits`; ``limit`` names which."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(f"chat template: {message} (limit {limit})")
        self.limit = limit


DEFAULT_LIMITS = TemplateLimits()


def _raise_exception(message: str) -> None:
    from jinja2.exceptions import TemplateError

    raise TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _TemplateDict:
    """transformers' ``dict`` global: builds dicts, exposes nothing else of the type."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
        return dict.fromkeys(*args, **kwargs)


# ------------------------------------------------------------------------------------ the budget


class _Budget:
    """Deadline and counters of one render (compile-time folding uses one without a deadline)."""

    __slots__ = ("limits", "deadline", "output", "captured")

    def __init__(self, limits: TemplateLimits, timed: bool = True) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds if timed else math.inf
        self.output = 0
        self.captured = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(
                "max_seconds",
                f"rendering took longer than {self.limits.max_seconds} s (a loop that does not end, "
                "or too much work)",
            )


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("airtune_chat_budget", default=None)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _int_size(x: int) -> int:
    return x.bit_length() * 30103 // 100000 + 2  # decimal digits (and a sign)


_NAMESPACE: list[type] = []  # jinja2.utils.Namespace, imported with jinja2 on first use


def _children(obj: Any) -> Iterable[Any] | None:
    """What str() of ``obj`` prints, for the containers a template can hold; None for atoms."""
    t = type(obj)
    if t is list or t is tuple or t is set or t is frozenset:
        return obj
    if t is dict:
        return (x for kv in obj.items() for x in kv)
    if t in _ATOM_SIZES or isinstance(obj, (str, bytes, bytearray, int, float)):
        return None
    if isinstance(obj, (list, tuple, set, frozenset)):
        return obj
    if isinstance(obj, Mapping):
        return (x for kv in obj.items() for x in kv)
    if not _NAMESPACE:
        from jinja2.utils import Namespace

        _NAMESPACE.append(Namespace)
    if isinstance(obj, _NAMESPACE[0]):
        attrs = object.__getattribute__(obj, "_Namespace__attrs")
        return (x for kv in attrs.items() for x in kv)
    return None


_ATOM_SIZES: dict[type, Any] = {
    str: len,
    bytes: len,
    bytearray: len,
    int: _int_size,
    bool: lambda _: 5,
    float: lambda _: 24,
    type(None): lambda _: 4,
}


def _atom_size(obj: Any) -> int:
    f = _ATOM_SIZES.get(type(obj))
    if f is not None:
        return f(obj)
    if isinstance(obj, (str, bytes, bytearray)):
        return len(obj)
    if isinstance(obj, int):
        return _int_size(obj)
    return 24  # floats, and the repr of other objects (loop, cycler, macro, undefined, ...)


def _size(obj: Any, cap: int) -> int:
    """Characters str(obj) would take, about: shared and nested parts counted every time they
    appear (as str() prints them). Stops counting past ``cap``; linear in the distinct objects."""
    f = _ATOM_SIZES.get(type(obj))
    if f is not None:
        return f(obj)
    kids = _children(obj)
    if kids is None:
        return _atom_size(obj)
    atoms = _ATOM_SIZES
    memo: dict[int, int] = {}
    keep: list[Any] = []  # keeps counted objects alive so their ids stay unique
    active: set[int] = set()
    stack: list[list[Any]] = [[obj, iter(kids), 2]]
    active.add(id(obj))
    while stack:
        frame = stack[-1]
        pushed = False
        total = frame[2]
        for child in frame[1]:
            f = atoms.get(type(child))
            if f is not None:
                total += f(child) + 2
            else:
                grandkids = _children(child)
                if grandkids is None:
                    total += _atom_size(child) + 2
                elif id(child) in memo:
                    total += memo[id(child)] + 2
                elif id(child) in active:
                    total += 5  # a cycle prints as [...]
                else:
                    active.add(id(child))
                    stack.append([child, iter(grandkids), 2])
                    pushed = True
                    break
            if total > cap:
                return cap + 1
        frame[2] = total
        if pushed:
            continue
        stack.pop()
        active.discard(id(frame[0]))
        memo[id(frame[0])] = total
        keep.append(frame[0])
        if stack:
            stack[-1][2] += total + 2
            if stack[-1][2] > cap:
                return cap + 1
    return memo[id(obj)]


def _too_big(limits: TemplateLimits, size: int, what: str) -> None:
    if size > limits.max_value_size:
        raise TemplateLimitError(
            "max_value_size",
            f"{what} would build a value of about {size} characters or elements, more than "
            f"max_value_size={limits.max_value_size}",
        )


_DIGITS = re.compile(r"\d+")


def _format_size(
    limits: TemplateLimits, fmt: str | bytes | bytearray, values: Iterable[Any], fields: int
) -> int:
    """Upper bound of a format's result: every field may print the largest value at the widest
    width the format string or its int arguments name."""
    cap = limits.max_value_size
    vals = list(values)
    widest_value = max((_size(v, cap) for v in vals), default=0)
    text = fmt.decode("latin-1") if isinstance(fmt, (bytes, bytearray)) else fmt
    widths = [int(d) for d in _DIGITS.findall(text) if len(d) < 20] + [
        v for v in vals if isinstance(v, int) and not isinstance(v, bool)
    ]
    if any(len(d) >= 20 for d in _DIGITS.findall(text)):
        return cap + 1
    return len(fmt) + fields * (widest_value + max(widths, default=0))


def _percent_size(limits: TemplateLimits, fmt: str | bytes | bytearray, right: Any) -> int:
    if isinstance(right, tuple):
        values: Iterable[Any] = right
    elif isinstance(right, Mapping):
        values = right.values()
    else:
        values = [right]
    marker = "%" if isinstance(fmt, str) else b"%"
    return _format_size(limits, fmt, values, fmt.count(marker))  # type: ignore[arg-type]  # marker is fmt's type


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _as_int(x: Any) -> int:
    return x if isinstance(x, int) else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# ------------------------------------------------------------- size estimates of expanding calls


def _estimate_method(limits: TemplateLimits, obj: Any, args: tuple, kwargs: dict) -> int | None:
    """Size of the result of a str/bytes/int method that can expand its input, before it runs."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, int) and not isinstance(owner, bool) and name == "to_bytes":
        return _as_int(_arg(args, kwargs, 0, "length", 1))
    if not isinstance(owner, (str, bytes, bytearray)):
        return None
    n = len(owner)
    if name in ("ljust", "rjust", "center", "zfill"):
        return max(n, _as_int(_arg(args, kwargs, 0, "width", 0)))
    if name == "expandtabs":
        tab = "\t" if isinstance(owner, str) else b"\t"
        tabs = owner.count(tab)  # type: ignore[arg-type]  # tab is owner's type
        return n + tabs * max(_as_int(_arg(args, kwargs, 0, "tabsize", 8)), 0)
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        count = _as_int(_arg(args, kwargs, 2, "count", -1))
        if isinstance(old, type(owner)) and isinstance(new, type(owner)):
            hits = owner.count(old) if old else n + 1  # type: ignore[arg-type]  # old is owner's type
            if count >= 0:
                hits = min(hits, count)
            return n + hits * len(new)
        return None
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((_size(v, limits.max_value_size) for v in args[0].values() if v is not None), default=1)
        return n * max(longest, 1)
    return None


def _filter_estimate(
    limits: TemplateLimits, name: str, args: tuple, kwargs: dict
) -> tuple[int | None, tuple]:
    """Size estimate for the filters that can expand their input; may return ``args`` with the
    input materialised (so an iterator is not consumed twice)."""
    cap = limits.max_value_size
    if not args:
        return None, args
    value, rest = args[0], args[1:]
    if name == "center":
        return max(_size(value, cap), _as_int(_arg(rest, kwargs, 0, "width", 80))), args
    if name == "indent":
        width = _arg(rest, kwargs, 0, "width", 4)
        w = len(width) if isinstance(width, str) else _as_int(width)
        s = _text(value)
        return len(s) + (s.count("\n") + 1) * w, args
    if name == "wordwrap":
        wrap = _arg(rest, kwargs, 2, "wrapstring", None) or "\n"
        s = _text(value)
        return len(s) + (len(s) + s.count("\n") + 1) * len(_text(wrap)), args
    if name == "replace" and len(rest) >= 2:
        s, old, new = _text(value), _text(rest[0]), _text(rest[1])
        hits = s.count(old) if old else len(s) + 1
        count = _arg(rest, kwargs, 2, "count", None)
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        return len(s) + hits * len(new), args
    if name == "join":
        items = list(value)
        sep = _arg(rest, kwargs, 0, "d", "")
        total = sum(_size(x, cap) for x in items) + len(_text(sep)) * max(len(items) - 1, 0)
        return total, (items, *rest)
    if name == "format":
        return _percent_size(limits, _text(value), tuple(rest) if rest else kwargs), args
    if name == "batch":
        fill = _arg(rest, kwargs, 1, "fill_with", None)
        return (_as_int(_arg(rest, kwargs, 0, "linecount", 0)) if fill is not None else None), args
    if name == "slice":
        slices = _as_int(_arg(rest, kwargs, 0, "slices", 0))
        if slices > limits.max_range:
            raise TemplateLimitError(
                "max_range", f"slice({slices}) makes more than max_range={limits.max_range} lists"
            )
        return None, args
    if name == "sum":
        start = _arg(rest, kwargs, 1, "start", 0)
        if isinstance(start, (str, list, tuple)):
            items = list(value)
            total = _size(start, cap) + sum(_size(x, cap) for x in items)
            # adding sequences one by one copies the prefix each time
            return max(total, total * len(items) // 16), (items, *rest)
        return None, args
    if name in _STRINGIFYING_FILTERS:
        return _size(value, cap), args
    return None, args


# Filters whose result holds (a rendering of) their input: its size is checked before they run.
_STRINGIFYING_FILTERS = frozenset(
    "string pprint xmlattr urlencode escape e forceescape striptags upper lower title capitalize "
    "trim wordcount urlize safe truncate filesizeformat".split()
)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | str | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    """transformers' tojson (json.dumps keeping non-ASCII), encoded in pieces and bounded."""
    budget = _BUDGET.get() or _Budget(DEFAULT_LIMITS, timed=False)
    limits = budget.limits
    _too_big(limits, _size(x, limits.max_value_size), "tojson")
    if isinstance(indent, int) and indent > limits.max_value_size:
        _too_big(limits, indent, "tojson(indent=...)")
    encoder = json.JSONEncoder(
        ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )
    parts, total = [], 0
    for chunk in encoder.iterencode(x):
        total += len(chunk)
        if total > limits.max_value_size:
            _too_big(limits, total, "tojson")
        parts.append(chunk)
    return "".join(parts)


# --------------------------------------------------------------------------- the environment


def _environment_class() -> type:
    from jinja2 import nodes
    from jinja2.compiler import CodeGenerator
    from jinja2.exceptions import SecurityError
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace, generate_lorem_ipsum

    class TemplateNamespace(Namespace):
        """transformers' namespace: no underscore-prefixed attributes (no way to CPython internals)."""

        def __init__(*args: Any, **kwargs: Any) -> None:  # noqa: N805 - Namespace's signature trick
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            TemplateNamespace._check_name(name)
            Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name: Any) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise SecurityError(
                    "Chat templates cannot store underscore-prefixed attributes on a namespace, but got "
                    f"{name!r}. Please rename the attribute."
                )

    class LoopGuard(Extension):
        """Gives compiled loops `environment.extensions[...].iterate`, which times every iteration."""

        def iterate(self, iterable: Any) -> Any:
            return self.environment.guarded_iter(iterable)  # type: ignore[attr-defined]  # our sandbox's

    class BoundedCodeGenerator(CodeGenerator):
        def visit_For(self, node: Any, frame: Any) -> None:
            it = node.iter
            guarded = (
                isinstance(it, nodes.Call)
                and isinstance(it.node, nodes.ExtensionAttribute)
                and it.node.identifier == LoopGuard.identifier
            )
            if not guarded:
                target = nodes.ExtensionAttribute(LoopGuard.identifier, "iterate", lineno=node.lineno)
                node.iter = nodes.Call(target, [it], [], None, None, lineno=node.lineno)
            super().visit_For(node, frame)

        def visit_Concat(self, node: Any, frame: Any) -> None:
            if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
                self.write("environment.checked_value(")
                super().visit_Concat(node, frame)
                self.write(")")
                return
            self.write("environment.guarded_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

        def buffer(self, frame: Any) -> None:
            frame.buffer = self.temporary_identifier()
            self.writeline(f"{frame.buffer} = environment.guarded_buffer()")

    class CountingBuffer(list):
        """A capture buffer ({% set %} block, macro, filter block) that counts what it holds."""

        __slots__ = ("_env",)

        def __init__(self, env: Any) -> None:
            super().__init__()
            self._env = env

        def append(self, item: Any) -> None:
            self._env.count_captured((item,))
            super().append(item)

        def extend(self, items: Iterable[Any]) -> None:
            items = tuple(items)
            self._env.count_captured(items)
            super().extend(items)

    class GuardedIterable:
        __slots__ = ("_env", "_inner")

        def __init__(self, env: Any, inner: Any) -> None:
            self._env = env
            self._inner = inner

        def __iter__(self) -> Iterator[Any]:
            tick = self._env.budget().tick
            for item in self._inner:
                tick()
                yield item

        def __len__(self) -> int:
            return len(self._inner)

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        """transformers' chat-template environment with every unbounded path bounded."""

        code_generator_class = BoundedCodeGenerator
        intercepted_binops = frozenset(["*", "+", "%", "**"])

        def __init__(self, limits: TemplateLimits) -> None:
            super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, LoopGuard])
            self.limits = limits
            self._static = _Budget(limits, timed=False)
            self.filters["tojson"] = _tojson
            for name, f in list(self.filters.items()):
                self.filters[name] = self._guard_filter(name, f)
            self.globals["raise_exception"] = _raise_exception
            self.globals["strftime_now"] = _strftime_now
            self.globals["dict"] = _TemplateDict()
            self.globals["namespace"] = TemplateNamespace
            self.globals["range"] = self._range
            self.globals["lipsum"] = self._lipsum
            self.finalize = self._finalize

        # the budget of the render in progress (compile-time constant folding: no deadline)
        def budget(self) -> _Budget:
            b = _BUDGET.get()
            return b if b is not None and b.limits is self.limits else self._static

        def checked_value(self, value: Any, what: str = "an expression") -> Any:
            _too_big(self.limits, _size(value, self.limits.max_value_size), what)
            return value

        def _range(self, *args: int) -> range:
            self.budget().tick()
            r = range(*args)
            if len(r) > self.limits.max_range:
                raise TemplateLimitError(
                    "max_range", f"range() of {len(r)} items, more than max_range={self.limits.max_range}"
                )
            return r

        def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
            _too_big(self.limits, _as_int(n) * _as_int(max) * 12, "lipsum()")
            return generate_lorem_ipsum(n=n, html=html, min=min, max=max)

        def _finalize(self, value: Any) -> Any:
            b = self.budget()
            b.tick()
            if not isinstance(value, str):
                _too_big(self.limits, _size(value, self.limits.max_value_size), "printing a value")
            return value

        def guarded_iter(self, iterable: Any) -> Any:
            self.budget().tick()
            return GuardedIterable(self, iterable)

        def guarded_concat(self, values: tuple) -> str:
            self.budget().tick()
            cap = self.limits.max_value_size
            total = 0
            for v in values:
                total += _size(v, cap)
                _too_big(self.limits, total, "'~'")
            return "".join(map(str, values))

        def guarded_buffer(self) -> list:
            return CountingBuffer(self)

        def count_captured(self, items: tuple) -> None:
            b = self.budget()
            b.tick()
            b.captured += sum(
                _utf8_len(x) if isinstance(x, str) else _size(x, self.limits.max_value_size) for x in items
            )
            if b.captured > self.limits.max_captured_bytes:
                raise TemplateLimitError(
                    "max_captured_bytes",
                    f"more than max_captured_bytes={self.limits.max_captured_bytes} of text captured by "
                    "set blocks, macros and filter blocks",
                )

        def getattr(self, obj: Any, attribute: str) -> Any:
            self.budget().tick()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            self.budget().tick()
            return super().getitem(obj, argument)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            self.budget().tick()
            owner = getattr(obj, "__self__", None)
            if isinstance(owner, (str, bytes, bytearray)) and getattr(obj, "__name__", "") == "join" and args:
                args = (list(args[0]), *args[1:])
                cap = self.limits.max_value_size
                total = sum(_size(x, cap) for x in args[0]) + len(owner) * max(len(args[0]) - 1, 0)
                _too_big(self.limits, total, "join()")
            else:
                est = _estimate_method(self.limits, obj, args, kwargs)
                if est is not None:
                    _too_big(self.limits, est, f"{getattr(obj, '__name__', 'a call')}()")
            result = super().call(context, obj, *args, **kwargs)
            return self.checked_value(result, f"{getattr(obj, '__name__', 'a call')}()")

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            self.budget().tick()
            lim = self.limits
            cap = lim.max_value_size
            ints = isinstance(left, int) and isinstance(right, int)
            if operator == "**" and ints and right > 0 and abs(left) > 1:
                bits = right * math.log2(abs(left))
                if bits > lim.max_int_bits:
                    raise TemplateLimitError(
                        "max_int_bits",
                        f"{left if left.bit_length() < 64 else 'a large number'} ** {right} would have about "
                        f"{bits:.0f} bits, more than max_int_bits={lim.max_int_bits}",
                    )
            elif operator == "*":
                if ints:
                    if left.bit_length() + right.bit_length() > lim.max_int_bits:
                        raise TemplateLimitError(
                            "max_int_bits", f"a product of more than max_int_bits={lim.max_int_bits} bits"
                        )
                else:
                    seq, n = (left, right) if isinstance(right, int) else (right, left)
                    if isinstance(n, int) and isinstance(seq, (str, bytes, bytearray, list, tuple)) and n > 0:
                        _too_big(lim, _size(seq, cap) * n, f"{type(seq).__name__} * {n}")
            elif operator == "+" and not ints:
                if isinstance(left, (str, bytes, bytearray, list, tuple)):
                    _too_big(lim, _size(left, cap) + _size(right, cap), "'+'")
            elif operator == "%" and isinstance(left, (str, bytes, bytearray)):
                _too_big(lim, _percent_size(lim, left, right), "'%' formatting")
            result = self.binop_table[operator](left, right)
            if operator == "%" and isinstance(result, str):
                _too_big(lim, len(result), "'%' formatting")
            return result

        def wrap_str_format(self, value: Any) -> Any:
            wrapper = super().wrap_str_format(value)
            if wrapper is None:
                return None
            fmt = value.__self__
            is_map = value.__name__ == "format_map"
            env = self

            def bounded(*args: Any, **kwargs: Any) -> str:
                env.budget().tick()
                values = list(args[0].values()) if is_map and args and isinstance(args[0], Mapping) else []
                values += list(args) + list(kwargs.values())
                fields = fmt.count("{")
                _too_big(env.limits, _format_size(env.limits, fmt, values, fields), "str.format()")
                return wrapper(*args, **kwargs)

            return update_wrapper(bounded, wrapper)

        def _guard_filter(self, name: str, f: Any) -> Any:
            from jinja2.utils import _PassArg

            skip = 1 if _PassArg.from_obj(f) is not None else 0
            env = self

            @wraps(f)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                env.budget().tick()
                head, body = args[:skip], args[skip:]
                est, body = _filter_estimate(env.limits, name, body, kwargs)
                if est is not None:
                    _too_big(env.limits, est, f"the {name} filter")
                return env.checked_value(f(*head, *body, **kwargs), f"the {name} filter")

            return guarded

    return BoundedSandbox


@lru_cache(maxsize=8)
def _environment(limits: TemplateLimits) -> Any:
    return _environment_class()(limits)


@lru_cache(maxsize=32)
def _compile(template: str, limits: TemplateLimits) -> Any:
    return _environment(limits).from_string(template)


def render_chat_template(
    template: str,
    messages: list[dict[str, Any]],
    add_generation_prompt: bool = True,
    limits: TemplateLimits | None = None,
    **variables: Any,
) -> str:
    """Render ``messages`` with a Hugging Face chat template.

    Same environment as transformers: ``ImmutableSandboxedEnvironment(trim_blocks=True,
    lstrip_blocks=True)`` with loop controls, ``raise_exception``, ``strftime_now``, a ``tojson``
    that keeps non-ASCII text and its restricted ``dict`` and ``namespace``; ``variables``
    (bos_token, eos_token, tools, documents, ...) are passed through, ``tools`` and ``documents``
    being None unless given (as transformers passes them).
    The result already holds the template's special tokens: tokenize it without adding them again.
    ``limits`` (default :class:`TemplateLimits`\\ ()) bounds the render; breaking one raises
    :class:`TemplateLimitError`. The template's own errors (``raise_exception``, syntax) raise
    jinja2's ``TemplateError`` as in transformers.
    """
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("messages must be a list of {'role': ..., 'content': ...} dicts")
    if not isinstance(template, str):
        raise ValueError(f"a chat template is a str, got {type(template).__name__}")
    limits = limits or DEFAULT_LIMITS
    size = _utf8_len(template)
    if size > limits.max_template_bytes:
        raise TemplateLimitError(
            "max_template_bytes",
            f"the template is {size} bytes, more than max_template_bytes={limits.max_template_bytes}",
        )
    budget = _Budget(limits)
    token = _BUDGET.set(budget)
    try:
        compiled = _compile(template, limits)
        parts: list[str] = []
        context = {"tools": None, "documents": None, **variables}
        for chunk in compiled.generate(
            messages=messages, add_generation_prompt=add_generation_prompt, **context
        ):
            budget.output += _utf8_len(chunk)
            if budget.output > limits.max_output_bytes:
                raise TemplateLimitError(
                    "max_output_bytes", f"the output exceeds max_output_bytes={limits.max_output_bytes}"
                )
            budget.tick()
            parts.append(chunk)
        return "".join(parts)
    except RecursionError:
        raise TemplateLimitError("recursion", "the template nests or recurses too deeply") from None
    except MemoryError:
        raise TemplateLimitError("memory", "rendering ran out of memory") from None
    finally:
        _BUDGET.reset(token)
