"""What a model's cached answers are keyed by: its identity, so a changed model is never served the
answers of the old one.

:func:`model_identity` gives, in this order:

1. ``model_id=...`` when the caller passes one (the override): ``"model_id:<it>"``;
2. the identity the model declares: a ``cache_key`` or ``identity`` attribute, or a method of that
   name called without arguments (a weights hash for a local model, the adapter's hash, an
   endpoint's base URL + model name: whatever must change for its answers to change);
3. for any other callable, ``"callable:<name>:<module>.<qualname>:<sha256>"`` over what defines its
   behaviour (the name is part of it: two models built from one function with settings the key
   cannot see stay apart; renaming a model costs its cached answers, never gives wrong ones):

   - its code, recursively for nested functions, lambdas and comprehensions: bytecode, constants,
     the names it reads (globals, attributes), argument and local names, flags; not line numbers
     or the file name (moving a function keeps its key, editing it changes it);
   - its default arguments and closure cells, and the module globals its code names: plain values
     (None, bool, numbers, str, bytes, paths, enums, tuples and frozensets of them) by value,
     functions the same way as the model itself, objects that declare an identity by it, other
     objects by their class (the code of its methods) and, for classes of your own code, their
     attributes by the same rules (as they are when the evaluation starts);
   - a bound method: its function and the object it is bound to; ``functools.partial``: the
     function and its bound arguments; a callable instance: its class and attributes;
   - the Python version (bytecode differs between versions).

   Code and objects of the standard library and of installed packages (site-packages) are
   identified by their qualified name, not their content or state: upgrading a package does not
   discard the cache, and a client object's connection pool does not change the key.

Not covered, so not part of the key: the contents of mutable containers (list, dict, set: a closure
over a counter or a memo table must not change the key on every run, so a config dict does not
either), what happens behind the callable (a server that changes the model behind the same URL,
weights reloaded from the same path, C extensions), randomness and time. For those, declare
``cache_key`` on the object, keep settings in immutable values or in ``evaluate(params=...)``, or
pass ``evaluate(model_id={name: ...})``.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import site
import sys
import sysconfig
import types
from pathlib import Path, PurePath
from typing import Any

_MAX_DEPTH = 8  # objects reached through globals, closures and attributes: bounded for big graphs
_SCALARS = (type(None), bool, int, float, complex, str, bytes, PurePath, enum.Enum, type(Ellipsis))
_MUTABLE = (list, dict, set, bytearray)
_BUILTIN_CALLABLES = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
)


def declared_identity(obj: Any) -> str | None:
    """The identity ``obj`` declares (``cache_key`` or ``identity``, attribute or method), or None."""
    if isinstance(obj, type | types.ModuleType):
        return None
    for attr in ("cache_key", "identity"):
        try:
            inspect.getattr_static(obj, attr)  # a real attribute, not one a __getattr__ makes up
        except AttributeError:
            continue
        value = getattr(obj, attr)
        if callable(value) and not isinstance(value, str):
            value = value()
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise TypeError(f"{type(obj).__name__}.{attr} must be a non-empty str, got {value!r}")
        return value
    return None


def model_identity(model: Any, name: str, model_id: str | None = None) -> str:
    """The cache identity of ``model``, evaluated under ``name`` (see the module doc)."""
    if model_id is not None:
        if not isinstance(model_id, str) or not model_id:
            raise TypeError(f"model_id for model {name!r} must be a non-empty str, got {model_id!r}")
        return f"model_id:{model_id}"
    declared = declared_identity(model)
    if declared is not None:
        return declared
    if not callable(model):
        raise TypeError(f"model {name!r}: expected a callable, got {type(model).__name__}")
    fp = _Fingerprint()
    fp.tag("python", *sys.version_info[:2])
    fp.value(model, 0)
    return f"callable:{name}:{_qualname(model)}:{fp.h.hexdigest()[:32]}"


def _qualname(obj: Any) -> str:
    while isinstance(obj, functools.partial):
        obj = obj.func
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if not hasattr(obj, "__qualname__"):
        obj = type(obj)
    module = getattr(obj, "__module__", None) or getattr(
        getattr(obj, "__objclass__", None), "__module__", "?"
    )
    return f"{module}.{getattr(obj, '__qualname__', '?')}"


@functools.cache
def _library_roots() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(getattr(site, "getsitepackages", list)())
    paths.add(site.getusersitepackages())
    return tuple(str(Path(p).resolve()) for p in paths if p)


@functools.cache
def _is_library_file(filename: str) -> bool:
    """True for a file of the standard library or of an installed package (not your own code)."""
    if not filename or filename.startswith("<"):  # exec'd code, a notebook cell
        return False
    path = str(Path(filename).resolve())
    return any(path.startswith(root + "/") for root in _library_roots())


def _is_library_function(f: types.FunctionType) -> bool:
    return _is_library_file(f.__code__.co_filename)


def _is_library_class(c: type) -> bool:
    if c.__module__ == "builtins":
        return True
    for attr in vars(c).values():
        if isinstance(attr, staticmethod | classmethod):
            attr = attr.__func__
        if isinstance(attr, types.FunctionType):
            return _is_library_function(attr)
    module = sys.modules.get(c.__module__)
    file = getattr(module, "__file__", None)
    return file is None or _is_library_file(file)  # a C type, or a class of no code of its own


def _safe_declared(v: Any) -> str | None:
    try:
        return declared_identity(v)
    except Exception:  # an identity that cannot be read is no declaration
        return None


class _Fingerprint:
    """Feeds a canonical description of values and code into a sha256 (cycles and depth bounded)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.active: set[int] = set()

    def tag(self, *parts: Any) -> None:
        for p in parts:
            b = p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogatepass")
            self.h.update(len(b).to_bytes(8, "little"))
            self.h.update(b)

    def value(self, v: Any, depth: int) -> None:
        if isinstance(v, _SCALARS):
            self.tag(type(v).__qualname__, repr(v))
        elif isinstance(v, tuple):
            self.tag("tuple", len(v))
            for x in v:
                self.value(x, depth + 1)
        elif isinstance(v, frozenset):  # unordered: each item hashed alone, the hashes sorted
            subs = []
            for x in v:
                sub = _Fingerprint()
                sub.active = self.active
                sub.value(x, depth + 1)
                subs.append(sub.h.hexdigest())
            self.tag("frozenset", *sorted(subs))
        elif isinstance(v, _MUTABLE):
            self.tag("mutable", type(v).__qualname__)  # state, not configuration (see the module doc)
        elif id(v) in self.active or depth > _MAX_DEPTH:
            self.tag("reached", _qualname(v))
        else:
            self.active.add(id(v))
            try:
                self.compound(v, depth)
            finally:
                self.active.discard(id(v))

    def compound(self, v: Any, depth: int) -> None:
        declared = _safe_declared(v)
        if declared is not None:
            self.tag("identity", declared)
        elif isinstance(v, types.FunctionType):
            self.function(v, depth)
        elif isinstance(v, types.MethodType):
            self.tag("method")
            self.value(v.__func__, depth + 1)
            self.value(v.__self__, depth + 1)
        elif isinstance(v, functools.partial):
            self.tag("partial", len(v.args), *sorted(v.keywords))
            self.value(v.func, depth + 1)
            self.value(tuple(v.args), depth + 1)
            for k in sorted(v.keywords):
                self.value(v.keywords[k], depth + 1)
        elif isinstance(v, _BUILTIN_CALLABLES):
            self.tag("builtin", _qualname(v))
            bound = getattr(v, "__self__", None)
            if bound is not None and not isinstance(bound, types.ModuleType | type):
                self.value(bound, depth + 1)
        elif isinstance(v, types.ModuleType):
            self.tag("module", v.__name__)
        elif isinstance(v, type):
            self.cls(v, depth)
        else:
            self.instance(v, depth)

    def code(self, co: types.CodeType) -> None:
        self.tag("code", co.co_argcount, co.co_posonlyargcount, co.co_kwonlyargcount, co.co_flags, co.co_code)
        self.tag(len(co.co_names), *co.co_names, len(co.co_varnames), *co.co_varnames)
        self.tag(len(co.co_freevars), *co.co_freevars, len(co.co_cellvars), *co.co_cellvars)
        self.tag("consts", len(co.co_consts))
        for c in co.co_consts:
            if isinstance(c, types.CodeType):
                self.code(c)
            else:
                self.value(c, 0)  # constants are plain values, tuples and frozensets of them

    def function(self, f: types.FunctionType, depth: int) -> None:
        self.tag("function", f.__module__, f.__qualname__)
        if _is_library_function(f):
            return
        self.code(f.__code__)
        self.tag("defaults", len(f.__defaults__ or ()))
        for d in f.__defaults__ or ():
            self.value(d, depth + 1)
        for k, d in sorted((f.__kwdefaults__ or {}).items()):
            self.tag(k)
            self.value(d, depth + 1)
        self.tag("closure")
        for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
            self.tag(name)
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell: a name the enclosing function assigns later
                self.tag("<empty>")
                continue
            self.value(contents, depth + 1)
        self.tag("globals")
        g = f.__globals__
        for name in sorted(_names(f.__code__)):
            if name in g:
                self.tag(name)
                self.value(g[name], depth + 1)

    def cls(self, c: type, depth: int) -> None:
        self.tag("class", f"{c.__module__}.{c.__qualname__}")
        for base in c.__mro__:
            if base is object or _is_library_class(base):
                continue
            for k, attr in sorted(vars(base).items()):
                if isinstance(attr, staticmethod | classmethod):
                    attr = attr.__func__
                elif isinstance(attr, property):
                    attr = attr.fget
                if isinstance(attr, types.FunctionType):
                    self.tag(k)
                    self.function(attr, depth + 1)
                elif isinstance(attr, _SCALARS + (tuple, frozenset)) and not k.startswith("__"):
                    self.tag(k)
                    self.value(attr, depth + 1)

    def instance(self, obj: Any, depth: int) -> None:
        self.tag("object")
        self.cls(type(obj), depth)
        if _is_library_class(type(obj)):
            return  # a library object's state (pools, sessions, clocks) is not configuration
        try:
            attrs = vars(obj)
        except TypeError:  # __slots__ or a C type: its class only
            return
        for k in sorted(attrs):
            self.tag(k)
            self.value(attrs[k], depth + 1)


def _names(co: types.CodeType) -> set[str]:
    """Names the code (and its nested code) reads: globals and attribute names alike."""
    names = set(co.co_names)
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names
