#!/usr/bin/python3
"""Regenerates golden/*.json: chat templates rendered by the reference Jinja2.

The reference is Python's jinja2 (Debian: python3-jinja2) configured the way
Hugging Face transformers renders `apply_chat_template`: an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the
loopcontrols extension, `raise_exception`, `strftime_now` and a `tojson` that
keeps key order and non-ASCII text. chunkserve's own interpreter must produce
exactly these strings (tests/chat_template/chat_template_golden_test.cpp).

Run from anywhere:  /usr/bin/python3 tests/chat_template/make_golden.py
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "testdata"))
# 2024-07-26 12:00:00 UTC: the same calendar day in every time zone within +-11 h.
NOW = 1721995200


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.datetime.fromtimestamp(NOW).strftime(fmt)


def render(source, bos, eos, messages, add_generation_prompt, variables):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(source)
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                           bos_token=bos, eos_token=eos, **variables)


SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CONVERSATIONS = [
    ("system_user", [SYSTEM, {"role": "user", "content": "Hello!"}], True, {}),
    ("multi_turn", [SYSTEM, {"role": "user", "content": "What is 2+2?"},
                    {"role": "assistant", "content": "2+2 = 4."},
                    {"role": "user", "content": "And 3+3?"}], True, {}),
    ("no_system_generation_off", [{"role": "user", "content": "Hi"},
                                  {"role": "assistant", "content": "Hello! How can I help?"}], False, {}),
    ("user_only_padded_unicode", [{"role": "user", "content": "  Wie geht's? \u4f60\u597d \u00e9\u00e8 \"quoted\"\n"}],
     True, {}),
    ("assistant_last_generation_off", [SYSTEM, {"role": "user", "content": "Say hi."},
                                       {"role": "assistant", "content": "Hi!"}], False, {}),
    ("roles_not_alternating", [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], True, {}),
]
QWEN3_EXTRA = [
    ("thinking_disabled", [{"role": "user", "content": "Hello!"}], True, {"enable_thinking": False}),
    ("assistant_with_reasoning", [{"role": "user", "content": "2+2?"},
                                  {"role": "assistant", "content": "<think>\nsimple sum\n</think>\n\n4"},
                                  {"role": "user", "content": "3+3?"},
                                  {"role": "assistant", "content": "<think>\nagain\n</think>\n\n6"}],
     False, {}),
]

# name -> (source loader, bos, eos, extra conversations)
def from_file(name):
    with open(os.path.join(HERE, "templates", name), encoding="utf-8") as f:
        return f.read(), "templates/" + name


def from_tokenizer_config(family):
    path = os.path.join(TESTDATA, "tokenizers", family, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)["chat_template"], "testdata:tokenizers/%s/tokenizer_config.json" % family


TEMPLATES = [
    ("chatml", lambda: from_file("chatml.jinja"), "", "<|im_end|>", []),
    ("smollm2", lambda: from_file("smollm2.jinja"), "<|im_start|>", "<|im_end|>", []),
    ("qwen2.5", lambda: from_file("qwen2.5.jinja"), "", "<|im_end|>", []),
    ("qwen3", lambda: from_tokenizer_config("qwen3"), "", "<|im_end|>", QWEN3_EXTRA),
    ("llama3", lambda: from_tokenizer_config("llama3"), "<|begin_of_text|>", "<|end_of_text|>", []),
    ("llama3.2", lambda: from_file("llama3.2.jinja"), "<|begin_of_text|>", "<|eot_id|>",
     [("date_string_given", [{"role": "user", "content": "Hi"}], True, {"date_string": "01 Jan 2025"})]),
    ("mistral-instruct-v0.1", lambda: from_file("mistral-instruct-v0.1.jinja"), "<s>", "</s>", []),
    ("phi-3", lambda: from_file("phi-3.jinja"), "<s>", "<|endoftext|>", []),
    ("gemma-2", lambda: from_file("gemma-2.jinja"), "<bos>", "<eos>", []),
    ("gemma-3", lambda: from_file("gemma-3.jinja"), "<bos>", "<eos>", []),
]


def main():
    out_dir = os.path.join(HERE, "golden")
    os.makedirs(out_dir, exist_ok=True)
    for name, load, bos, eos, extra in TEMPLATES:
        source, origin = load()
        cases = []
        for case_name, messages, gen, variables in CONVERSATIONS + extra:
            case = {"name": case_name, "messages": messages, "add_generation_prompt": gen,
                    "variables": variables}
            try:
                case["expected"] = render(source, bos, eos, messages, gen, variables)
            except TemplateError as e:
                case["error"] = str(e)
            cases.append(case)
        golden = {"template": origin, "bos_token": bos, "eos_token": eos, "now": NOW, "cases": cases}
        with open(os.path.join(out_dir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print("wrote golden/%s.json (%d cases)" % (name, len(cases)), file=sys.stderr)


if __name__ == "__main__":
    main()
