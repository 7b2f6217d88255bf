// The Jinja subset, construct by construct. Expected strings are what
// Python's jinja2 3.1 renders with Hugging Face's settings.
#include <gtest/gtest.h>

#include <string>

#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_value.h"

namespace chunkserve::tokenizer::jinja {
namespace {

StatusOr<std::string> Render(std::string_view source, Evaluator evaluator = Evaluator()) {
  ASSIGN_OR_RETURN(NodeList nodes, Parse(source));
  return evaluator.Render(nodes);
}

std::string R(std::string_view source) {
  StatusOr<std::string> out = Render(source);
  if (!out.ok()) return "ERROR: " + out.status().ToString();
  return *out;
}

Status E(std::string_view source) {
  StatusOr<std::string> out = Render(source);
  return out.ok() ? Status::Ok() : out.status();
}

TEST(JinjaTest, TextExpressionsAndComments) {
  EXPECT_EQ(R("plain"), "plain");
  EXPECT_EQ(R("a{{ 1 + 2 }}b{# note #}c"), "a3bc");
  EXPECT_EQ(R("{{ 'x' ~ 1 ~ none }}"), "x1None");
  EXPECT_EQ(R("{{ 'ab' 'cd' }}"), "abcd");
  EXPECT_EQ(R("{{ 'a\\nb\\x41\\u00e9' }}"), "a\nbA\xc3\xa9");
  EXPECT_EQ(R("{{ none }}|{{ true }}|{{ [1,'a',none,true] }}|{{ {'a':1} }}"), "None|True|[1, 'a', None, True]|{'a': 1}");
  EXPECT_EQ(R("{{ undefined_thing }}|"), "|");
}

TEST(JinjaTest, NumbersFollowPython) {
  EXPECT_EQ(R("{{ 1.0 }} {{ 1e20 }} {{ 0.1+0.2 }} {{ 1/2 }} {{ 7//2 }} {{ -7//2 }} {{ 2**10 }} {{ 1e-5 }} {{ 3.0*2 }}"),
            "1.0 1e+20 0.30000000000000004 0.5 3 -4 1024 1e-05 6.0");
  EXPECT_EQ(R("{{ 'ab' * 3 }}{{ 5 % 3 }}{{ -5 % 3 }}{{ 2 ** -1 }}{{ 10 / 4 }}{{ 9 // 2.0 }}"), "ababab210.52.54.0");
  EXPECT_EQ(E("{{ 3 / 0 }}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(E("{{ 9223372036854775807 + 1 }}").code(), StatusCode::kInvalidArgument);
}

TEST(JinjaTest, WhitespaceControlAndTrimBlocks) {
  EXPECT_EQ(R("a\n{% if true %}\n  b\n  {% endif %}\nc\n"), "a\n  b\nc");
  EXPECT_EQ(R("a\n  {# c #}\nb"), "a\nb");
  EXPECT_EQ(R("x  {% if true %}y{% endif %}"), "x  y");
  EXPECT_EQ(R("x\n  {%+ if true %}y{% endif %}"), "x\n  y");
  EXPECT_EQ(R("x\n  {%- if true %}y{% endif %}"), "xy");
  EXPECT_EQ(R("{% if true -%}  \n  y{% endif %}"), "y");
  EXPECT_EQ(R("a {{- ' b ' -}} c"), "a b c");
  EXPECT_EQ(R("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
}

TEST(JinjaTest, IfElifElse) {
  EXPECT_EQ(R("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}"), "c");
  EXPECT_EQ(R("{% if none %}a{% else %}b{% endif %}"), "b");
  EXPECT_EQ(R("{{ 'a' if false }}|{{ 'y' if 1 else 'n' }}"), "|y");
}

TEST(JinjaTest, ForLoopVariablesFilterElseAndControl) {
  EXPECT_EQ(R("{% for m in ['a','b'] %}{{ loop.index }}{{ loop.revindex }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}"),
            "12b;21a;");
  EXPECT_EQ(R("{%- for m in [1,2,3] if m != 2 %}{{loop.index}}{{m}}{{loop.last}} {% endfor %}"), "11False 23True ");
  EXPECT_EQ(R("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{i}}{% endfor %}"),
            "02");
  EXPECT_EQ(R("{% for a, b in [[1,2],[3,4]] %}{{a}}{{b}}{% endfor %}{% for k in {'x':1,'y':2} %}{{k}}{% endfor %}"),
            "1234xy");
  EXPECT_EQ(R("{% for k, v in {'x':1}.items() %}{{k}}={{v}}{% endfor %}"), "x=1");
  EXPECT_EQ(R("{% for m in [1,2,3,4] %}{{ loop.cycle('a','b') }}{{ loop.length }}{{ loop.first }}{% endfor %}"),
            "a4Trueb4Falsea4Falseb4False");
  EXPECT_EQ(R("{% for c in undefined_list %}x{% endfor %}ok"), "ok");
}

TEST(JinjaTest, SetScopingAndNamespace) {
  // Assignments inside a loop do not leak out (fresh scope per iteration).
  EXPECT_EQ(R("{% set x = 0 %}{% for i in [1,2,3] %}{% set x = x + i %}{{x}},{% endfor %}|{{x}}"), "1,2,3,|0");
  EXPECT_EQ(R("{% set ns = namespace(a=1) %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}"), "4");
  EXPECT_EQ(R("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(R("{% set x %}hi {{ 1 }}{% endset %}{{ x|upper }}"), "HI 1");
  EXPECT_EQ(E("{% set d = {} %}{% set d.x = 1 %}").code(), StatusCode::kInvalidArgument);
}

TEST(JinjaTest, MacrosWithDefaults) {
  EXPECT_EQ(R("{% macro f(a, b='x') %}[{{a}}{{b}}]{% endmacro %}{{ f(1) }}{{ f(2, b='y') }}"), "[1x][2y]");
}

TEST(JinjaTest, IndexingSlicingAndAttributes) {
  EXPECT_EQ(R("{{ {'a':1}.a }}|{{ 'abc'[-1] }}{{ 'abc'[::-1] }}"), "1|ccba");
  EXPECT_EQ(R("{{ [1,2][0:1] }}{{ 'abc'[5:] }}{{ [1,2,3][-2:] }}{{ [1,2,3][::2] }}{{ [1,2,3][1:] }}"), "[1][2, 3][1, 3][2, 3]");
  EXPECT_EQ(R("{{ [1,2,3][5] }}|"), "|");
  EXPECT_EQ(R("{{ {'a':{'b':1}}['a'] }}"), "{'b': 1}");
  EXPECT_EQ(R("{{ 'h\xc3\xa9llo'[1] }}{{ 'h\xc3\xa9llo'|length }}"), "\xc3\xa9" "5");
  Status s = E("{{ x.y }}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'x' is undefined"), std::string::npos) << s.ToString();
  EXPECT_EQ(R("{% set n = none %}{{ n.attr }}|"), "|");
}

TEST(JinjaTest, OperatorsAndTests) {
  EXPECT_EQ(R("{{ 1 < 2 < 3 }}{{ 'a' in 'abc' }}{{ 2 not in [1] }}{{ not 1 == 2 }}"), "TrueTrueTrueTrue");
  EXPECT_EQ(R("{{ true and 'x' }}|{{ false or [] }}|{{ 0 or 'd' }}"), "x|[]|d");
  EXPECT_EQ(R("{{ 'abc' is string }}{{ [1] is iterable }}{{ {} is mapping }}{{ 'a' is iterable }}{{ 1 is number }}{{ none is none }}{{ false is false }}"),
            "TrueTrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(R("{{ x is defined }}{{ x is not defined }}{{ 4 is divisibleby 2 }}{{ 3 is odd }}{{ 'x' is in 'xyz' }}"),
            "FalseTrueTrueTrueTrue");
  EXPECT_EQ(R("{{ 'a' < 'b' }}{{ none == none }}{{ x == none }}{{ 1 == true }}"), "TrueTrueFalseTrue");
  EXPECT_EQ(R("{{ 'k' in {'k': 1} }}{{ 1.0 == 1 }}{{ [1, [2]] == [1, [2]] }}"), "TrueTrueTrue");
}

TEST(JinjaTest, Filters) {
  EXPECT_EQ(R("{{ x | default('d') }}{{ '' | default('e', true) }}{{ none|default('f') }}"), "deNone");
  EXPECT_EQ(R("{{ [3,1,2]|sort|join(',') }}{{ [1,2,3]|first }}{{ 'abc'|first }}{{ [1,2]|last }}{{ 'hi'|upper }}"), "1,2,31a2HI");
  EXPECT_EQ(R("{{ '  x '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'Hello World'|lower }}|{{ 'hello world'|capitalize }}|{{ 'hello world'|title }}"),
            "x|a|hello world|Hello world|Hello World");
  EXPECT_EQ(R("{{ [3,1,2]|max }}{{ [3,1,2]|min }}{{ [3,1,2]|sum }}{{ [1,1,2]|unique|list }}{{ [1,2]|reverse|list }}{{ 'ab'|reverse }}"),
            "316[1, 2][2, 1]ba");
  EXPECT_EQ(R("{{ [1,2,3] | map('string') | join('-') }}{{ [{'r':'u'},{'r':'a'}] | selectattr('r','equalto','u') | list }}{{ [1,2,3] | reject('equalto', 2) | list }}"),
            "1-2-3[{'r': 'u'}][1, 3]");
  EXPECT_EQ(R("{{ [{'n':'a'},{'n':'b'}] | map(attribute='n') | join }}"), "ab");
  EXPECT_EQ(R("{{ 3|float }}{{ '3'|int }}{{ 'x'|int }}{{ 2.7|int }}{{ 2.5|round }}{{ 3.14159|round(2) }}"), "3.03022.03.14");
  EXPECT_EQ(R("{{ 'abc'|replace('b','Z') }}{{ 'abc'|length }}{{ range(5)|list }}{{ range(1,10,3)|list }}"),
            "aZc3[0, 1, 2, 3, 4][1, 4, 7]");
  EXPECT_EQ(R("{{ {'b':1,'a':2}|items|list }}{{ {'b':1,'a':2}|dictsort }}"), "[['b', 1], ['a', 2]][['a', 2], ['b', 1]]");
  EXPECT_EQ(R("{{ 'a\\nb'|indent(2, true) }}"), "  a\n  b");
  EXPECT_EQ(R("{{ '<a>'|e }}"), "&lt;a&gt;");
}

TEST(JinjaTest, ToJsonMatchesHuggingFace) {
  EXPECT_EQ(R("{{ [1,2]|tojson }}{{ {'a':'\xc3\xa9', 'b': [true, none, 1.5]}|tojson }}"),
            "[1, 2]{\"a\": \"\xc3\xa9\", \"b\": [true, null, 1.5]}");
  EXPECT_EQ(R("{{ {'a':{'b':[1,2.5,'x\"y']}}|tojson(indent=2) }}"),
            "{\n  \"a\": {\n    \"b\": [\n      1,\n      2.5,\n      \"x\\\"y\"\n    ]\n  }\n}");
  EXPECT_EQ(R("{{ {'b':1,'a':2}|tojson(sort_keys=true) }}"), "{\"a\": 2, \"b\": 1}");
}

TEST(JinjaTest, StringMethods) {
  EXPECT_EQ(R("{{ 'a,b,,c'.split(',') }}{{ ' a '.strip() }}{{ 'abc'.split('b')[-1] }}{{ 'a b  c'.split() }}"),
            "['a', 'b', '', 'c']ac['a', 'b', 'c']");
  EXPECT_EQ(R("{{ 'x'.startswith(('a','x')) }}{{ 'a-b-c'.split('-', 1) }}{{ 'abc'.find('c') }}{{ 'a{}b'.format(1) }}"),
            "True['a', 'b-c']2a1b");
  EXPECT_EQ(R("{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'abc'.title() }}{{ 'ab'.replace('a','x') }}{{ 'x.y'.endswith('.y') }}"),
            "x\n|AbcxbTrue");
  EXPECT_EQ(R("{{ {'a':1}.get('a') }}{{ {'a':1}.get('b', 5) }}{{ {'a':1}.items()|list }}{{ {'a':1}.keys()|list }}"),
            "15[['a', 1]]['a']");
}

TEST(JinjaTest, GlobalsRaiseExceptionAndStrftime) {
  Status s = E("{{ raise_exception('bad roles') }}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad roles"), std::string::npos);
  EXPECT_NE(s.message().find("line 1"), std::string::npos);

  Evaluator ev;
  ev.SetNow(1721995200);  // 2024-07-26 12:00 UTC
  StatusOr<std::string> out = Render("{{ strftime_now('%Y-%m-%d') }}", std::move(ev));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "2024-07-26");
  EXPECT_EQ(R("{{ strftime_now is defined }}"), "True");
  EXPECT_EQ(R("{{ dict(a=1)|tojson }}"), "{\"a\": 1}");
}

TEST(JinjaTest, ErrorsNameTheLineAndConstruct) {
  Status s = E("line1\n{% if x %}\nunclosed");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("line 2"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("'if'"), std::string::npos) << s.ToString();

  s = E("a\n\n{% include 'other.jinja' %}");
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("line 3"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("include"), std::string::npos) << s.ToString();

  s = E("{{ 'x' | frobnicate }}");
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("frobnicate"), std::string::npos) << s.ToString();

  s = E("{{ 1 + }}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("expected an expression"), std::string::npos) << s.ToString();

  EXPECT_EQ(E("{{ 'x' + 1 }}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(E("{{ foo() }}").code(), StatusCode::kUnimplemented);
  EXPECT_EQ(E("{% endif %}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(E("{{ 'unterminated }}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(E("{# never closed").code(), StatusCode::kInvalidArgument);
}

TEST(JinjaTest, LimitsStopRunawayTemplates) {
  // Small limits keep the test fast; the defaults work the same way.
  auto limited = [](std::string_view source) {
    RenderLimits limits;
    limits.max_loop_iterations = 20000;
    limits.max_output_bytes = 1 << 20;
    StatusOr<std::string> out = Render(source, Evaluator(limits));
    return out.ok() ? Status::Ok() : out.status();
  };
  EXPECT_EQ(E("{% for i in range(2000000) %}{% endfor %}").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(limited("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}").code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(limited("{% set s = 'x' * 100000 %}{% for i in range(20) %}{{ s }}{% endfor %}").code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(E("{% set s = 'x' * 100000000 %}").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(E("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}").code(), StatusCode::kResourceExhausted);
  std::string deep(5000, '(');
  EXPECT_FALSE(E("{{ " + deep + " }}").ok());
  std::string nested_ifs;
  for (int i = 0; i < 500; ++i) nested_ifs += "{% if true %}";
  EXPECT_FALSE(E(nested_ifs).ok());
}

TEST(ValueTest, FormatFloatMatchesPythonRepr) {
  EXPECT_EQ(FormatFloat(0.1), "0.1");
  EXPECT_EQ(FormatFloat(100.0), "100.0");
  EXPECT_EQ(FormatFloat(1e16), "1e+16");
  EXPECT_EQ(FormatFloat(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(FormatFloat(0.0001), "0.0001");
  EXPECT_EQ(FormatFloat(0.00001), "1e-05");
  EXPECT_EQ(FormatFloat(-2.5), "-2.5");
  EXPECT_EQ(FormatFloat(1.5e-7), "1.5e-07");
}

}  // namespace
}  // namespace chunkserve::tokenizer::jinja
