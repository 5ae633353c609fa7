"""A model's chat template, rendered in a sandbox with limits on size, time and a cancel event.

Chat templates come inside model files (a GGUF's `tokenizer.chat_template`, a tokenizer_config.json) and are
hostile until proven otherwise: jinja2's sandbox stops escapes (no imports, no files, no dunder attributes)
but not `{{ 'x' * 200000000 }}` (6 GB in 16 s) or nested loops that never end. This renderer is jinja2's
ImmutableSandboxedEnvironment, set up as transformers' `apply_chat_template` and llama-cpp-python's
`Jinja2ChatFormatter` set theirs (trim_blocks, lstrip_blocks, loop controls, the `{% generation %}` tag,
their `tojson`, `raise_exception`, `strftime_now`), so ordinary templates render exactly as they do there,
plus a budget checked *while* rendering:

- Size: every string, list or output piece a template builds is charged to one budget, and the operations
  that can build something big in one step (`*`, `+`, `~`, `%`, `**`, `str.format`, `replace`, `join`,
  `ljust`..., the `indent`/`center`/`tojson`... filters, `range`) are refused *before* the result is built
  when it would not fit. Output is produced with `generate()` and counted chunk by chunk.
- Time: a deadline, checked on every call, attribute access, filter, operator, loop iteration and chunk.
- Cancel: the backend's cancel event, checked at the same points (Esc stops a runaway template).

A violation is a RequestError in one line; a template that cannot be compiled (or is over SOURCE_LIMIT) is a
ModelLoadError. A cancel raises engine.types.Cancelled, which backends turn into a cancelled result.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import json
import re
import string
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes as nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from engine.types import Cancelled, ModelLoadError, RequestError, one_line

SOURCE_LIMIT = 256 * 1024  # characters of template source; real templates are 1-20 KB
# Output may exceed the messages by this much: a template's own text (headers, a system prompt, tool
# instructions) is at most SOURCE_LIMIT per pass and real ones add a few KB, so 1 MiB over what it was given
# leaves room for any honest template while refusing amplification long before it costs memory.
OUTPUT_MARGIN = 1 << 20
# Everything built during a render (intermediate strings, lists, captured blocks, the output) together, in
# multiples of the output limit: honest templates build each message a few times over (`+` chains, `trim`).
PRODUCTION_FACTOR = 8
TIME_BUDGET_S = 2.0  # honest templates render in milliseconds
MAX_RANGE = 10_000  # jinja2's sandbox allows 100,000 per range(); templates loop over messages, not numbers

_WHAT = "the model's chat template"
_current: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("chat_template_budget", default=None)


class _Budget:
    """What one render may still spend: characters built, characters output, time; and its cancel event."""

    def __init__(self, limit: int, seconds: float, cancel: threading.Event | None) -> None:
        self.limit = limit  # characters of output
        self.left = PRODUCTION_FACTOR * limit  # characters all built objects may still take
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.cancel = cancel

    def tick(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()
        if time.monotonic() > self.deadline:
            raise RequestError(f"{_WHAT} exceeded its time limit of {self.seconds:g} s; it looks hostile")

    def need(self, size: int, doing: str) -> None:
        """Refuse, before building it, something of `size` characters that does not fit what is left."""
        self.tick()
        if size > self.left:
            raise RequestError(
                f"{_WHAT} exceeded its size limit ({self.limit:,} characters of output) {doing}; it looks hostile"
            )

    def charge(self, size: int, doing: str) -> None:
        self.need(size, doing)
        self.left -= size


def _budget() -> _Budget:
    budget = _current.get()
    if budget is None:  # jinja folds constants at compile time: nothing runs outside a budgeted render
        raise RuntimeError("outside a budgeted render")
    return budget


def weight(value: Any, cap: int) -> int:
    """About how many characters `str(value)` takes, counting stops once past `cap` (so shared sublists
    nested a thousand times over cost `cap` steps, not their exponential expansion)."""
    total, stack = 0, [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, dict):  # not any Mapping: jinja's Context is one, and is not ours to walk
            total += 2 + 4 * len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 32  # floats, undefined values, macros, loop objects: short reprs
    return total


def _ints(args: tuple, kwargs: dict) -> list[int]:
    return [a for a in itertools.chain(args, kwargs.values()) if isinstance(a, int) and not isinstance(a, bool)]


def _check_args(budget: _Budget, args: tuple, kwargs: dict, doing: str) -> None:
    """Arguments that would be too big once turned into text, and sizes (widths, counts) over the limit."""
    for value in itertools.chain(args, kwargs.values()):
        budget.need(weight(value, budget.left), doing)
    for number in _ints(args, kwargs):
        if abs(number) > budget.limit:
            budget.need(abs(number), f"{doing} (a size of {number:,})")


def _materialize(budget: _Budget, iterable: Any) -> Any:
    """A list of what a generator yields, at most what the budget allows (so `join` can be measured)."""
    if isinstance(iterable, (str, list, tuple, Mapping)):
        return iterable
    items = []
    for item in iterable:
        items.append(item)
        budget.charge(2, "collecting items")
    return items


_SPEC_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%[-#0 +*.\d]*[a-zA-Z%]")


def _format_size(budget: _Budget, fmt: str, args: tuple, kwargs: dict) -> int:
    """An upper bound on what `fmt.format(*args, **kwargs)` builds: widths in the specs count."""
    size = len(fmt) + sum(weight(v, budget.left) for v in itertools.chain(args, kwargs.values()))
    biggest = max((abs(n) for n in _ints(args, kwargs)), default=0)
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return size  # format() will raise the same error
    for _, _, spec, _ in fields:
        spec = spec or ""
        size += sum(int(n) for n in _SPEC_NUMBER.findall(spec)) + spec.count("{") * biggest
    return size


def _percent_size(budget: _Budget, fmt: str, right: Any) -> int:
    """An upper bound on what `fmt % right` builds: widths and `*` widths count."""
    values = right if isinstance(right, tuple) else (right,)
    size = len(fmt) + weight(right, budget.left)
    biggest = max((abs(n) for n in _ints(values, {})), default=0)
    for spec in _PERCENT_SPEC.findall(fmt):
        size += sum(int(n) for n in _SPEC_NUMBER.findall(spec)) + spec.count("*") * biggest
    return size


def _replace_size(text: str, old: str, new: str, count: Any = -1) -> int:
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * len(new)


def _str_method_size(budget: _Budget, text: str, name: str, args: tuple, kwargs: dict) -> int:
    """An upper bound on the result of the str methods that can build more than they are given."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        return _replace_size(text, *args[:3])
    if name == "join" and args:
        items = args[0]
        return sum(weight(i, budget.left) for i in items) + len(text) * max(len(items) - 1, 0)
    if name == "expandtabs":
        tab = (args or (kwargs.get("tabsize", 8),))[0]
        return len(text) + text.count("\t") * (tab if isinstance(tab, int) else 8)
    if name == "translate" and args:
        table = args[0]
        longest = max((weight(v, budget.left) for v in table.values()), default=1) if isinstance(table, Mapping) else 1
        return len(text) * max(longest, 1)
    if name in ("format", "format_map"):
        values = (args[0],) if name == "format_map" and args else args
        return _format_size(budget, text, values, kwargs if name == "format" else {})
    return 0  # the rest build at most what they are given (their size arguments are checked separately)


# -- the environment --------------------------------------------------------------------------------------


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # As transformers and llama-cpp-python define it: Jinja's own escapes HTML characters.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _strftime_now(format):
    return datetime.now().strftime(format)


class _TemplateDict:
    """`dict(...)` as transformers offers it: a call, without the class's attributes to climb through."""

    def __call__(self, *args, **kwargs):
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs):
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(Namespace):
    """transformers' namespace: underscore names are refused (they reach CPython internals)."""

    def __init__(*args, **kwargs):
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        Namespace.__init__(self, attrs)

    def __setitem__(self, name, value):
        _TemplateNamespace._check_name(name)
        Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name):
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"a namespace cannot hold the underscore name {name!r}")


def _range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise RequestError(f"{_WHAT} exceeded its range() limit ({len(rng):,} items, at most {MAX_RANGE:,})")
    return rng


class _GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` (transformers' assistant mask) renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


_LOOP_FILTER = "redraft_guarded_loop"
_CONCAT_FILTER = "redraft_guarded_concat"


class _GuardLoopsAndConcat(NodeTransformer):
    """Every `for` iterates through a guard (time, cancel); every `~` goes through a measured join."""

    def __init__(self, environment) -> None:
        self.environment = environment

    def _filter(self, node, name, lineno):
        return nodes.Filter(node, name, [], [], None, None, lineno=lineno).set_environment(self.environment)

    def visit_For(self, node):
        node = self.generic_visit(node)
        node.iter = self._filter(node.iter, _LOOP_FILTER, node.lineno)
        return node

    def visit_Concat(self, node):
        node = self.generic_visit(node)
        parts = nodes.Tuple(node.nodes, "load", lineno=node.lineno).set_environment(self.environment)
        return self._filter(parts, _CONCAT_FILTER, node.lineno)


class _BudgetedCodeGenerator(CodeGenerator):
    def visit_Template(self, node, frame=None):
        return super().visit_Template(_GuardLoopsAndConcat(self.environment).visit(node), frame)

    def buffer(self, frame):
        # Captured output (macros, `{% set %}` blocks, filter blocks) goes into a list that charges the budget.
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.budgeted_buffer()")


class _Buffer(list):
    __slots__ = ("_budget",)

    def append(self, item):
        self._budget.charge(len(item) if isinstance(item, str) else 32, "capturing output")
        super().append(item)

    def extend(self, items):
        items = tuple(items)
        self._budget.charge(sum(len(i) if isinstance(i, str) else 32 for i in items), "capturing output")
        super().extend(items)


def _guarded_loop(iterable):
    budget = _budget()
    for item in iterable:
        budget.tick()
        yield item


def _guarded_concat(parts):
    budget = _budget()
    texts = []
    for part in parts:
        budget.need(weight(part, budget.left), "joining strings with ~")
        texts.append(str(part))
    budget.charge(sum(map(len, texts)), "joining strings with ~")
    return "".join(texts)


def _filter_size(budget: _Budget, name: str, args: tuple, kwargs: dict) -> int:
    """An upper bound on the result of the filters that can build more than they are given."""
    value = args[0] if args else None
    size = weight(value, budget.left)
    if name == "indent":
        width = args[1] if len(args) > 1 else kwargs.get("width", 4)
        width = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
        return size + (str(value).count("\n") + 1) * width
    if name == "wordwrap":
        wrap = kwargs.get("wrapstring") or (args[3] if len(args) > 3 else None) or "\n"
        return size + (size + 1) * len(str(wrap))
    if name == "replace" and len(args) >= 3:
        return _replace_size(str(value), str(args[1]), str(args[2]), args[3] if len(args) > 3 else -1)
    if name == "join":
        joiner = args[1] if len(args) > 1 else kwargs.get("d", "")
        return size + len(str(joiner)) * (len(value) if hasattr(value, "__len__") else size)
    if name == "format" and isinstance(value, str):  # `value % (kwargs or args)`
        return _percent_size(budget, value, kwargs or tuple(args[1:]))
    if name == "tojson":
        indent = args[2] if len(args) > 2 else kwargs.get("indent")
        indent = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
        return size * (1 + indent * _depth(value, budget.left))
    if name == "pprint":
        return 2 * size
    if name == "sum":
        start = args[2] if len(args) > 2 else kwargs.get("start", 0)
        if not isinstance(start, (int, float)):  # summing lists copies them over and over, uninterruptibly
            return budget.left + 1
    return 0


def _depth(value: Any, cap: int) -> int:
    deepest, stack, steps = 0, [(value, 1)], 0
    while stack and steps <= cap:
        item, depth = stack.pop()
        steps += 1
        if isinstance(item, (list, tuple, dict)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _guard_filter(name: str, function):
    @functools.wraps(function)  # keeps jinja's pass_context/pass_eval_context marks
    def guarded(*args, **kwargs):
        budget = _budget()
        doing = f"in the {name} filter"
        _check_args(budget, args, kwargs, doing)
        if name == "join" and len(args) > 1:
            args = (args[0], _materialize(budget, args[1]), *args[2:])  # eval_ctx, value, ...
            budget.need(_filter_size(budget, name, args[1:], kwargs), doing)
        else:
            plain = args[1:] if getattr(function, "jinja_pass_arg", None) else args
            budget.need(_filter_size(budget, name, plain, kwargs), doing)
        result = function(*args, **kwargs)
        budget.charge(weight(result, budget.left), doing)
        return result

    return guarded


def _lipsum(n=5, html=True, min=20, max=100):
    _budget().need(abs(n) * abs(max) * 12, "in lipsum()")  # about 12 characters a word
    return jinja2.utils.generate_lorem_ipsum(n, html, min, max)


class _Sandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self) -> None:
        super().__init__(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_GenerationTag, jinja2.ext.loopcontrols],
            finalize=self._finalize,
        )
        self.filters["tojson"] = _tojson
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = _guarded_loop
        self.filters[_CONCAT_FILTER] = _guarded_concat
        self.globals.update(
            raise_exception=_raise_exception,
            strftime_now=_strftime_now,
            dict=_TemplateDict(),
            namespace=_TemplateNamespace,
            range=_range,
            lipsum=_lipsum,
        )

    @staticmethod
    def budgeted_buffer() -> _Buffer:
        buffer = _Buffer()
        buffer._budget = _budget()
        return buffer

    @staticmethod
    def _finalize(value):
        budget = _current.get()
        if budget is not None:  # None: a constant folded at compile time, bounded by the source
            budget.charge(weight(value, budget.left), "in its output")
        return value

    def call_binop(self, context, operator, left, right):
        budget = _budget()
        doing = f"with the {operator} operator"
        size = 0
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    size = weight(seq, budget.left) * max(n, 0)
            if isinstance(left, int) and isinstance(right, int):
                size = (abs(left).bit_length() + abs(right).bit_length()) // 3
        elif operator == "+" and isinstance(left, (str, list, tuple)):
            size = weight(left, budget.left) + weight(right, budget.left)
        elif operator == "%" and isinstance(left, str):
            size = _percent_size(budget, left, right)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            size = right * abs(left).bit_length() // 3
        budget.charge(size, doing)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj, attribute):
        _budget().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        _budget().tick()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj, attribute):
        # jinja returns an undefined value that renders as "" until used; refuse at once, in one line.
        raise jinja2.exceptions.SecurityError(f"access to {attribute!r} of a {type(obj).__name__} is not allowed")

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - jinja's own signature
        budget = _budget()
        name = getattr(__obj, "__name__", type(__obj).__name__)
        doing = f"calling {name}()"
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level iterates a guard too
            args = (_guarded_loop(args[0]), *args[1:])
        _check_args(budget, args, kwargs, doing)
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            if name == "join" and args:
                args = (_materialize(budget, args[0]), *args[1:])
            budget.need(_str_method_size(budget, owner, name, args, kwargs), doing)
        result = super().call(__context, __obj, *args, **kwargs)
        budget.charge(weight(result, budget.left), doing)
        return result


# -- the renderer -----------------------------------------------------------------------------------------


class ChatTemplate:
    """One model's chat template, compiled once; `render` is safe to call from any thread."""

    def __init__(self, source: str, name: str = "the model") -> None:
        if len(source) > SOURCE_LIMIT:
            raise ModelLoadError(
                f"{name}: its chat template is {len(source):,} characters, over the limit of {SOURCE_LIMIT:,}"
            )
        try:
            self._template = _Sandbox().from_string(source)
        except Exception as exc:  # noqa: BLE001 - syntax errors, deep nesting: the file's fault, in one line
            raise ModelLoadError(f"{name}: its chat template cannot be used: {one_line(exc)}") from None

    def render(
        self,
        messages: list[dict],
        *,
        cancel_event: threading.Event | None = None,
        seconds: float | None = None,
        **variables: Any,
    ) -> str:
        """The prompt for `messages`; `variables` (bos_token, add_generation_prompt...) as the caller's library
        passes them. Raises RequestError (one line) on a violation or a template error, Cancelled on cancel."""
        given = weight(messages, 1 << 62) + weight(variables, 1 << 62)
        budget = _Budget(given + OUTPUT_MARGIN, seconds or TIME_BUDGET_S, cancel_event)
        token = _current.set(budget)
        pieces: list[str] = []
        produced = 0
        try:
            for piece in self._template.generate(messages=messages, **variables):
                produced += len(piece)
                if produced > budget.limit:
                    budget.need(budget.left + 1, "in its output")
                budget.tick()
                pieces.append(piece)
        except (Cancelled, RequestError):
            raise
        except RecursionError:
            raise RequestError(f"{_WHAT} recursed too deeply; it looks hostile") from None
        except MemoryError:
            raise RequestError(f"{_WHAT} ran out of memory; it looks hostile") from None
        except Exception as exc:  # noqa: BLE001 - raise_exception(), undefined names, type errors: one line
            raise RequestError(f"{_WHAT} failed: {one_line(exc)}") from None
        finally:
            _current.reset(token)
        return "".join(pieces)
