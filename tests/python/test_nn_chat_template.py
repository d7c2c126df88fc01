"""Chat templates: rendered as transformers renders them, and bounded in time and size.

Parity: Llama 3 / 3.1 (tools, tojson, namespace), ChatML, Mistral and Zephyr-style templates against
transformers' own renderer. Bounds: every hostile template of issue 11 (nested loops, huge repeats
and powers, doubling loops, padding methods, captured output) stops with TemplateLimitError naming
its limit, within the time limit; a hypothesis property test generates templates from the same
constructs and checks that each renders within the bounds or raises an error, never hangs.
"""

from __future__ import annotations

import time

import jinja2
import pytest
from airtune.nn import TemplateLimitError, TemplateLimits, render_chat_template
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)
LLAMA31_TOOLS = """{{- bos_token }}
{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = false %}{%- endif %}
{%- if not date_string is defined %}{%- set date_string = "26 Jul 2024" %}{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{%- set ns = namespace(turns=0) %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}{{- "Environment: ipython\\n" }}{%- endif %}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {%- for t in tools %}{{- t | tojson(indent=4) }}{{- "\\n\\n" }}{%- endfor %}
{%- endif %}
{{- system_message }}{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- set ns.turns = ns.turns + 1 %}
    {%- if 'tool_calls' in message %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", "parameters": ' }}{{- tool_call.arguments | tojson }}{{- "}<|eot_id|>" }}
    {%- else %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{{- "" if ns.turns == messages|length else raise_exception("count") }}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
"""

CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [
        {"role": "system", "content": "  be brief  "},
        {"role": "user", "content": 'héllo, {"json"} 🙂 %s {0} {{ x }}'},
        {"role": "assistant", "content": "hello\n\nthere"},
        {"role": "user", "content": "and now?"},
    ],
    [{"role": "user", "content": "a" * 5000}, {"role": "assistant", "content": "b"}],
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city (°C)",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _transformers_render(template, messages, add_generation_prompt, **kw):
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[messages], chat_template=template, add_generation_prompt=add_generation_prompt, **kw
    )
    return rendered[0]


@pytest.mark.parametrize(
    "template", [CHATML, LLAMA3, ZEPHYR, LLAMA31_TOOLS], ids=["chatml", "llama3", "zephyr", "llama31"]
)
@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
@pytest.mark.parametrize("gen", [True, False])
def test_renders_as_transformers(template, conv, gen):
    pytest.importorskip("transformers")
    messages = CONVERSATIONS[conv]
    kw = {"bos_token": "<s>", "eos_token": "</s>"}
    assert render_chat_template(template, messages, gen, **kw) == _transformers_render(
        template, messages, gen, **kw
    )


def test_tools_and_mistral_as_transformers():
    pytest.importorskip("transformers")
    kw = {"bos_token": "<s>", "eos_token": "</s>"}
    call = {
        "role": "assistant",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}],
    }
    messages = [{"role": "user", "content": "weather?"}, call]
    ours = render_chat_template(LLAMA31_TOOLS, messages, True, tools=TOOLS, **kw)
    assert ours == _transformers_render(LLAMA31_TOOLS, messages, True, tools=TOOLS, **kw)
    assert '"city": {\n' in ours and "Zürich" in ours
    alternating = CONVERSATIONS[1][1:3]
    assert render_chat_template(MISTRAL, alternating, False, **kw) == _transformers_render(
        MISTRAL, alternating, False, **kw
    )
    with pytest.raises(jinja2.TemplateError, match="roles must alternate"):
        render_chat_template(MISTRAL, [alternating[1]], False, **kw)


def test_sandbox_still_blocks_internals():
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_chat_template("{{ messages.__class__.__mro__[1].__subclasses__() }}", [])
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_chat_template("{% set ns = namespace(_x=1) %}", [])


LIMITS = TemplateLimits(
    max_seconds=1.0, max_output_bytes=1 << 20, max_captured_bytes=4 << 20, max_value_size=1 << 20
)
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
HOSTILE = {
    "nested_ranges": (NESTED, "max_seconds"),
    "repeat_4e9": ("{{ 'A' * 4000000000 }}", "max_value_size"),
    "repeat_4e9_filter": ("{{ 'A' * (4e9|int) }}", "max_value_size"),
    "list_repeat": ("{{ ([1] * 100000000)|length }}", "max_value_size"),
    "power_tower": ("{{ 10 ** (10 ** 8) }}", "max_int_bits"),
    "squaring_loop": (
        "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}",
        "max_int_bits",
    ),
    "doubling_concat": (
        "{% set ns = namespace(s='A') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "max_value_size",
    ),
    "doubling_plus": (
        "{% set ns = namespace(s='A') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "max_value_size",
    ),
    "output_10gb": (
        "{% for i in range(100000) %}{% for j in range(100000) %}" + "A" * 1000 + "{% endfor %}{% endfor %}",
        "max_output_bytes",
    ),
    "captured_10gb": (
        "{% set x %}{% for i in range(100000) %}{% for j in range(100000) %}"
        + "A" * 1000
        + "{% endfor %}{% endfor %}{% endset %}",
        "max_captured_bytes",
    ),
    "ljust": ("{{ 'a'.ljust(10000000000) }}", "max_value_size"),
    "zfill": ("{{ '1'.zfill(10000000000) }}", "max_value_size"),
    "center_filter": ("{{ 'a'|center(1000000000) }}", "max_value_size"),
    "indent_filter": ("{{ ('a\\n' * 1000)|indent(1000000) }}", "max_value_size"),
    "str_format_width": ("{{ '{:>1000000000}'.format(1) }}", "max_value_size"),
    "percent_width": ("{{ '%01000000000d' % 1 }}", "max_value_size"),
    "format_filter": ("{{ '%1000000000s'|format('x') }}", "max_value_size"),
    "join_shared": ("{% set s = 'x' * 100000 %}{{ [s] * 9 + [s] * 9 }}", "max_value_size"),
    "print_shared": ("{% set s = 'x' * 500000 %}{{ [s, s, s, s] }}", "max_value_size"),
    "join_filter": ("{% set s = 'x' * 500000 %}{{ [s, s, s]|join }}", "max_value_size"),
    "str_join": ("{% set s = 'x' * 500000 %}{{ ''.join([s, s, s]) }}", "max_value_size"),
    "replace": ("{{ ('a' * 100000).replace('a', 'b' * 100000) }}", "max_value_size"),
    "expandtabs": ("{{ ('\\t' * 100000).expandtabs(100000) }}", "max_value_size"),
    "translate": ("{{ ('a' * 100000).translate({97: 'b' * 100000}) }}", "max_value_size"),
    "to_bytes": ("{{ (1).to_bytes(10000000000, 'big')|length }}", "max_value_size"),
    "lipsum": ("{{ lipsum(100000, max=100000) }}", "max_value_size"),
    "slice_filter": ("{{ [1]|slice(1000000000)|list|length }}", "max_range"),
    "batch_filter": ("{{ [1]|batch(1000000000, 0)|list|length }}", "max_value_size"),
    "tojson_indent": ("{{ [[1]]|tojson(indent=1000000000) }}", "max_value_size"),
    "big_range": ("{{ range(10000000)|list|length }}", "max_range"),
    "recursion": ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
    "exponential_macro": (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        "max_seconds",
    ),
    "string_loops": (
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        "max_seconds",
    ),
    "template_size": ("x" * (2 << 20), "max_template_bytes"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_templates_stop_with_a_clear_error(name):
    template, limit = HOSTILE[name]
    t0 = time.monotonic()
    with pytest.raises(TemplateLimitError) as err:
        render_chat_template(template, [{"role": "user", "content": "hi"}], limits=LIMITS)
    elapsed = time.monotonic() - t0
    assert err.value.limit == limit, str(err.value)
    assert limit in str(err.value) and "chat template" in str(err.value)
    assert elapsed < LIMITS.max_seconds + 3.0  # one bounded native step past the deadline at most
    assert isinstance(err.value, ValueError)


def test_default_limits_and_validation():
    lim = TemplateLimits()
    assert lim.max_seconds == 10.0 and lim.max_output_bytes == 16 << 20 and lim.max_range == 100_000
    with pytest.raises(ValueError, match="max_seconds"):
        TemplateLimits(max_seconds=0)
    # The limits are exact at the edge: output of exactly max_output_bytes renders.
    small = TemplateLimits(max_output_bytes=1000)
    assert len(render_chat_template("{{ 'é' * 500 }}", [], limits=small)) == 500  # 1000 UTF-8 bytes
    with pytest.raises(TemplateLimitError, match="max_output_bytes"):
        render_chat_template("{{ 'é' * 500 }}x", [], limits=small)


# ------------------------------------------------------------------------------ property test

_INTS = st.sampled_from([0, 1, 2, 3, 7, 100, 1000, 10**5, 10**6, 10**9, 4 * 10**9, 10**18])
_STRS = st.sampled_from(["'a'", "'ab\\n'", "'\\t'", "'%s'", "'{}'", "'é'", "message.content", "ns.s"])


@st.composite
def _expr(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        return draw(st.one_of(_INTS.map(str), _STRS, st.just("ns.n"), st.just("i")))
    a = draw(_expr(depth + 1))
    b = draw(_expr(depth + 1))
    n = draw(_INTS)
    form = draw(
        st.sampled_from(
            [
                f"({a} * {b})",
                f"({a} ** {b})",
                f"({a} + {b})",
                f"({a} ~ {b})",
                f"({a} % {b})",
                f"({a}|string).ljust({n})",
                f"({a}|string).replace('a', {a}|string)",
                f"({a}|string).expandtabs({n})",
                f"({a}|string).center({n})",
                f"({a}|center({n}))",
                f"({a}|string|indent({n}))",
                f"([{a}, {b}]|join({a}|string))",
                f"('{{:>{n}}}'.format({a}))",
                f"([{a}] * {n})|length",
                f"range({n})|list|length",
                f"({a}|string|wordwrap(3))",
                f"([{a}]|batch({n}, 0)|list|length)",
                f"({a}|tojson)",
            ]
        )
    )
    return form


@st.composite
def _statement(draw, depth=0):
    kind = draw(st.sampled_from(["out", "for", "set", "setblock", "if"] if depth < 3 else ["out", "set"]))
    e = draw(_expr())
    if kind == "out":
        return "{{ " + e + " }}"
    if kind == "set":
        target = draw(st.sampled_from(["ns.s", "ns.n"]))
        return "{% set " + target + " = " + e + " %}"
    body = "".join(draw(st.lists(_statement(depth + 1), min_size=1, max_size=3)))
    if kind == "for":
        return "{% for i in range(" + str(draw(_INTS)) + ") %}" + body + "{% endfor %}"
    if kind == "setblock":
        return "{% set cap %}" + body + "{% endset %}{{ cap|length }}"
    return "{% if " + e + " %}" + body + "{% endif %}"


@st.composite
def _template(draw):
    body = "".join(draw(st.lists(_statement(), min_size=1, max_size=4)))
    return "{% set ns = namespace(s='a', n=2) %}{% for message in messages %}" + body + "{% endfor %}"


PROPERTY_LIMITS = TemplateLimits(
    max_seconds=0.25, max_output_bytes=1 << 20, max_captured_bytes=4 << 20, max_value_size=1 << 20
)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_template())
def test_generated_templates_stay_within_bounds(template):
    t0 = time.monotonic()
    try:
        out = render_chat_template(template, [{"role": "user", "content": "hello"}], limits=PROPERTY_LIMITS)
    except TemplateLimitError as e:
        assert e.limit in {
            "max_seconds",
            "max_output_bytes",
            "max_captured_bytes",
            "max_value_size",
            "max_range",
            "max_int_bits",
            "recursion",
        }
    except (
        jinja2.TemplateError,
        TypeError,
        ValueError,
        ZeroDivisionError,
        OverflowError,
        IndexError,
        KeyError,
    ):
        pass  # the template's own error (a str times a str, int('x'), 1 % 0, a float overflow, ...)
    else:
        assert len(out.encode("utf-8")) <= PROPERTY_LIMITS.max_output_bytes
    assert time.monotonic() - t0 < PROPERTY_LIMITS.max_seconds + 3.0
