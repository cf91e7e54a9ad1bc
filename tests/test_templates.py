"""The sandboxed, HA-compatible template engine and its fast path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from spark.core.errors import SparkError, TemplateError
from spark.hub.templates import (
    MAX_OUTPUT,
    MAX_SOURCE,
    NOT_JSON,
    CompiledTemplate,
    TemplateEngine,
    load_value_json,
)


# One engine per test: its time share (a token bucket) is not spent by the over-budget renders
# of earlier tests.
@pytest.fixture
def engine() -> TemplateEngine:
    return TemplateEngine()


@pytest.fixture
def jinja_only() -> TemplateEngine:
    return TemplateEngine(fast_path=False)


def render(engine: TemplateEngine, source: str, payload: bytes | str, **variables: Any) -> str:
    return engine.compile(source).render(payload, **variables)


Z2M_STATE = (
    b'{"battery":97,"humidity":58.31,"linkquality":120,"pressure":1012.4,"temperature":21.5,'
    b'"voltage":3005,"occupancy":true,"last_seen":null,"update":{"state":"idle"},'
    b'"color":{"x":0.31,"y":0.33},"list":[1,"two",3.0,{"k":"v"}],"items":"key named like a method",'
    b'"big":1e16,"neg":-0.0,"text":"caf\xc3\xa9","empty":"","zero":0}'
)

# (template, payload): the fast path must print exactly what Jinja prints, or both must fail.
EQUIVALENCE: list[tuple[str, bytes | str]] = [
    ("{{ value_json.temperature }}", Z2M_STATE),
    ("{{value_json.temperature}}", Z2M_STATE),
    ("  {{ value_json.temperature }}\n", Z2M_STATE),
    ("{{- value_json.temperature -}}", Z2M_STATE),
    ("{{ value_json['temperature'] }}", Z2M_STATE),
    ('{{ value_json["update"]["state"] }}', Z2M_STATE),
    ("{{ value_json.update.state }}", Z2M_STATE),
    ("{{ value_json.color.x }}", Z2M_STATE),
    ("{{ value_json.occupancy }}", Z2M_STATE),
    ("{{ value_json.last_seen }}", Z2M_STATE),
    ("{{ value_json.battery }}", Z2M_STATE),
    ("{{ value_json.big }}", Z2M_STATE),
    ("{{ value_json.neg }}", Z2M_STATE),
    ("{{ value_json.text }}", Z2M_STATE),
    ("{{ value_json.empty }}", Z2M_STATE),
    ("{{ value_json.list }}", Z2M_STATE),
    ("{{ value_json.list[1] }}", Z2M_STATE),
    ("{{ value_json.list[-1].k }}", Z2M_STATE),
    ("{{ value_json.list[9] }}", Z2M_STATE),
    ("{{ value_json.color }}", Z2M_STATE),
    ("{{ value_json }}", Z2M_STATE),
    ("{{ value_json['items'] }}", Z2M_STATE),
    ("{{ value_json.missing }}", Z2M_STATE),
    ("{{ value_json.missing.deeper }}", Z2M_STATE),
    ("{{ value_json.temperature.deeper }}", Z2M_STATE),
    ("{{ value_json.temperature | float }}", Z2M_STATE),
    ("{{ value_json.temperature | int }}", Z2M_STATE),
    ("{{ value_json.humidity | round(1) }}", Z2M_STATE),
    ("{{ value_json.humidity | round }}", Z2M_STATE),
    ("{{ value_json.text | upper }}", Z2M_STATE),
    ("{{ value_json.missing | default('n/a') }}", Z2M_STATE),
    ("{{ value_json.temperature | default('n/a') }}", Z2M_STATE),
    ("{{ value_json.empty | default('blank', true) }}", Z2M_STATE),
    ("{{ value_json.text | float }}", Z2M_STATE),
    ("{{ value_json.text | float(0) }}", Z2M_STATE),
    ("{{ value_json.occupancy | bool }}", Z2M_STATE),
    ("{{ value_json.missing | is_defined }}", Z2M_STATE),
    ("{{ value_json.zero | is_defined }}", Z2M_STATE),
    ("{{ value }}", Z2M_STATE),
    ("{{ value }}", b"ON"),
    ("{{ value | lower }}", b"ON"),
    ("{{ value | float }}", b"21.5"),
    ("{{ value | int }}", b" 42 "),
    ("{{ value | float(0) }}", b"unavailable"),
    ("{{ value_json }}", b"21.5"),
    ("{{ value_json }}", b"true"),
    ("{{ value_json }}", b"null"),
    ("{{ value_json }}", b"ON"),
    ("{{ value_json.POWER }}", b'{"POWER":"ON"}'),
    ("{{value_json['COUNTER']['C1']}}", b'{"COUNTER":{"C1":0}}'),
    ("{{ value_json.POWER }}", b"Online"),
    ("{{ value_json[0] }}", b"[10, 20]"),
    ("{{ value_json.keys }}", b'{"keys": 1}'),
    ("{{ value.upper }}", b"abc"),
]


@pytest.mark.parametrize(("source", "payload"), EQUIVALENCE)
def test_fast_path_prints_exactly_what_jinja_prints(
    engine: TemplateEngine, jinja_only: TemplateEngine, source: str, payload: bytes | str
) -> None:
    outcomes: list[tuple[str, str | None]] = []
    for eng in (engine, jinja_only):
        try:
            outcomes.append(("ok", render(eng, source, payload)))
        except TemplateError:
            outcomes.append(("error", None))
    if "<built-in method" in str(outcomes[0][1]):  # memory address differs between calls
        assert str(outcomes[1][1]).startswith("<built-in method")
        return
    assert outcomes[0] == outcomes[1]


def test_which_forms_take_the_fast_path(engine: TemplateEngine) -> None:
    fast = [
        "{{ value }}",
        "{{ value_json.a.b }}",
        "{{ value_json['a'] }}",
        "{{ value_json.a[0] }}",
        "{{ value_json.a | float | round(2) }}",
        "{{ value_json.a | default('x') }}",
        "{{ value | int(0) }}",
    ]
    slow = [
        "{{ value_json.a }} {{ value_json.b }}",
        "x{{ value }}",
        "{{ value_json.a | default(value_json.b) }}",
        "{{ value_json.a | replace('a', 'b') }}",
        "{{ value_json.items }}",
        "{{ value_json[value] }}",
        "{{ this.state }}",
        "{% if value %}1{% endif %}",
    ]
    assert all(engine.compile(s).is_fast for s in fast)
    assert not any(engine.compile(s).is_fast for s in slow)


def test_how_values_print(engine: TemplateEngine) -> None:
    assert render(engine, "{{ value_json.a }}", b'{"a": true}') == "True"
    assert render(engine, "{{ value_json.a }}", b'{"a": null}') == "None"
    assert render(engine, "{{ value_json.a }}", b'{"a": 21.0}') == "21.0"
    assert render(engine, "{{ value_json.a }}", b'{"a": 1e16}') == "1e+16"
    assert render(engine, "{{ value_json.a }}", b'{"a": {"b": [1, "x"]}}') == "{'b': [1, 'x']}"
    assert render(engine, "{{ value_json.a }}", b"{}") == ""  # undefined prints empty


# ---- Home Assistant functions ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "payload", "expected"),
    [
        ("{{ value | float(0) }}", b"n/a", "0"),
        ("{{ float(value, -1) }}", b"n/a", "-1"),
        ("{{ value | int }}", b"21.7", "21"),
        ("{{ int('ff', base=16) }}", b"", "255"),
        ("{{ value | int(default=-1) }}", b"x", "-1"),
        ("{{ value | round(1) }}", b"21.456", "21.5"),
        ("{{ value | round(0) }}", b"21.5", "22"),
        ("{{ value | round(1, 'floor') }}", b"21.49", "21.4"),
        ("{{ value | round(1, 'ceil') }}", b"21.41", "21.5"),
        ("{{ value | round(1, 'half') }}", b"21.3", "21.5"),
        ("{{ value | round(method='half') }}", b"21.3", "21"),  # precision 0 gives an int
        ("{{ value | round(1, default='?') }}", b"x", "?"),
        ("{{ iif(value == 'ON', 'on', 'off') }}", b"ON", "on"),
        ("{{ (value_json.a) | iif('yes', 'no', 'none') }}", b'{"a": null}', "none"),
        ("{{ value_json.a | iif }}", b'{"a": 0}', "False"),
        ("{{ value | bool }}", b"on", "True"),
        ("{{ bool(value, 'unknown') }}", b"maybe", "unknown"),
        ("{{ value | multiply(10) }}", b"2.5", "25.0"),
        ("{{ (value | from_json).a }}", b'{"a": 5}', "5"),
        ("{{ value_json | to_json }}", b'{"a": [1, "\xc3\xa9"]}', '{"a":[1,"\xe9"]}'),
        ("{{ value_json | to_json(ensure_ascii=True) }}", b'{"a": "\xc3\xa9"}', '{"a": "\\u00e9"}'),
        ("{{ value | regex_match('^temp', ignorecase=True) }}", b"Temp 21", "True"),
        ("{{ value | regex_replace('[^0-9.]', '') }}", b"21.5 C", "21.5"),
        ("{{ value | regex_findall_index('(\\\\d+)') }}", b"rssi -67 dBm", "67"),
        ("{{ value is match('ON|OFF') }}", b"OFF", "True"),
        ("{{ min(3, 1, 2) }} {{ max([3, 1, 2]) }} {{ [4, 5] | min }}", b"", "1 3 4"),
        ("{{ value | is_number }} {{ is_number('nan') }}", b"3.1", "True False"),
        ("{{ value_json.a | default('n/a') }}", b"{}", "n/a"),
        ("{{ value | lower }}-{{ value | upper }}", b"Ab", "ab-AB"),
        ("{{ value_json is defined }}", b"not json", "False"),
        ("{{ 'on' if value_json.state == 'ON' else 'off' }}", b'{"state":"ON"}', "on"),
        ("{% for k, v in value_json.items() %}{{ k }}={{ v }};{% endfor %}", b'{"a":1}', "a=1;"),
        ("{{ '%.1f' | format(value | float) }}", b"21.456", "21.5"),
        ("{{ '{:.2f}'.format(value | float) }}", b"21.456", "21.46"),
        ("{{ value.split(',')[1] }}", b"a,b,c", "b"),
    ],
)
def test_home_assistant_functions(
    engine: TemplateEngine, source: str, payload: bytes, expected: str
) -> None:
    assert render(engine, source, payload) == expected


def test_as_timestamp(engine: TemplateEngine) -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert render(engine, "{{ as_timestamp(value) }}", moment.isoformat()) == str(
        moment.timestamp()
    )
    assert render(engine, "{{ value | as_timestamp(0) }}", "not a date") == "0"
    with pytest.raises(TemplateError, match="as_timestamp got invalid input"):
        render(engine, "{{ as_timestamp(value) }}", "not a date")


@pytest.mark.parametrize(
    ("source", "payload", "message"),
    [
        ("{{ value | float }}", b"unavailable", "float got invalid input 'unavailable'"),
        ("{{ value | int }}", b"x", "int got invalid input"),
        ("{{ value | round(1) }}", b"x", "round got invalid input"),
        ("{{ value | bool }}", b"maybe", "bool got invalid input"),
        ("{{ value | from_json }}", b"{", "from_json got invalid input"),
        ("{{ value_json.missing | is_defined }}", b"{}", "has no attribute 'missing'"),
        ("{{ value_json.a.b }}", b"{}", "has no attribute 'a'"),
        ("{{ value_json.a }}", b"ON", "'value_json' is undefined"),
        ("{{ 1 / 0 }}", b"", "ZeroDivisionError"),
        ("{{ value | regex_match('(a{100}){100}') }}", b"aaa", "counted repeats expand"),
        ("{{ value | regex_match('a*a*a*b') }}", "a" * 70_000, "too long for regex"),
        ("{{ value | regex_match('(x+x+)+y') }}", "x" * 5000, "time budget"),
    ],
)
def test_runtime_errors_become_template_errors(
    engine: TemplateEngine, source: str, payload: bytes | str, message: str
) -> None:
    with pytest.raises(TemplateError, match=message) as info:
        render(engine, source, payload)
    assert isinstance(info.value, SparkError)


# ---- sandbox and limits ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ value.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__['os'] }}",
        "{{ value_json.__class__ }}",
        "{{ (value_json.update({'a': 1})) }}",
        "{{ [].append(1) }}",
        "{{ lipsum(5) }}",
        "{{ 'abc'.translate({97: 'x' * 10}) }}",
    ],
)
def test_sandbox_blocks_escapes_and_mutation(engine: TemplateEngine, source: str) -> None:
    with pytest.raises(TemplateError):
        render(engine, source, b'{"a": 1}')


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ 2 ** 10000000 }}",
        "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}",
        "{% for i in range(100000) %}{% endfor %}",
        "{% for a in range(5000) %}{% for b in range(5000) %}{% endfor %}{% endfor %}",
        "{% for x in ('x' * 60000) %}{% for y in ('y' * 60000) %}{% endfor %}{% endfor %}",
        "{% set s = 'x' * 60000 %}" + "{% set s = s ~ s %}" * 12 + "{{ s | length }}",
        "{% set a = ['x' * 60000] %}{% set b = [a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c] %}"
        "{{ d | tojson | length }}",
        "{{ (['x' * 60000] * 1000) | join | length }}",
        "{{ ('x' * 60000) | replace('x', 'x' * 60000) | length }}",
        "{{ ('a' * 100000).join(['b'] * 1000) | length }}",
        "{{ '%0999999d' % 1 }}",
        "{{ '{:>99999999}'.format(1) }}",
        "{{ '{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}'.format('x' * 250000) }}",
        "{{ 'x'.ljust(100000000) }}",
        "{{ 'x' | center(100000000) }}",
        "{{ 'abc' | batch(1000000) | list }}",
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "{% macro m() %}{% for i in range(10000) %}" + "x" * 700 + "{% endfor %}{% endmacro %}"
        "{{ m() | length }}",
        "{% for i in range(10000) %}" + "x" * 100 + "{% endfor %}",
    ],
)
def test_pathological_templates_fail_fast(engine: TemplateEngine, source: str) -> None:
    with pytest.raises(TemplateError):
        render(engine, source, b"{}")


def test_size_limits(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match=f"longer than {MAX_SOURCE}"):
        engine.compile("{{ value }}" + " " * MAX_SOURCE)
    big = b"x" * (MAX_OUTPUT + 1)
    with pytest.raises(TemplateError, match=f"output longer than {MAX_OUTPUT}"):
        render(engine, "{{ value }}", big)  # fast path
    with pytest.raises(TemplateError, match=f"output longer than {MAX_OUTPUT}"):
        render(engine, "{{ value }}!", big)  # Jinja path
    assert len(render(engine, "{{ value }}", big[:MAX_OUTPUT])) == MAX_OUTPUT


def test_bad_sources_and_payloads(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match="invalid template"):
        engine.compile("{{ value_json.a ")
    with pytest.raises(TemplateError, match="invalid template"):
        engine.compile("{% for %}")
    with pytest.raises(TemplateError, match="must be a string"):
        engine.compile(42)  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match="not valid UTF-8"):
        render(engine, "{{ value }}", b"\xff\xfe")


# ---- API -------------------------------------------------------------------------------------
def test_compile_is_cached_by_source() -> None:
    eng = TemplateEngine(cache_size=2)
    first = eng.compile("{{ value }}")
    assert isinstance(first, CompiledTemplate)
    assert eng.compile("{{ value }}") is first
    eng.compile("{{ value_json.a }}")
    eng.compile("{{ value_json.b }}")
    assert eng.compile("{{ value }}") is not first  # evicted, least recently used


def test_value_json_parsed_once_and_passed_in(engine: TemplateEngine) -> None:
    payload = b'{"temperature": 21.5, "humidity": 40}'
    value_json = load_value_json(payload)
    sources = ["{{ value_json.temperature }}", "{{ value_json.humidity }}%", "{{ value }}"]
    assert [engine.compile(s).render(payload, value_json) for s in sources] == [
        "21.5",
        "40%",
        payload.decode(),
    ]
    assert load_value_json(b"ON") is NOT_JSON
    assert engine.compile("{{ value_json is defined }}").render(b"{}", NOT_JSON) == "False"
    assert engine.compile("{{ value_json.a }}").uses_value_json
    assert not engine.compile("{{ value | float }}").uses_value_json


def test_extra_variables(engine: TemplateEngine) -> None:
    this = {"state": "on", "attributes": {"friendly_name": "Plug"}}
    assert render(engine, "{{ this.attributes.friendly_name }}: {{ value }}", b"1", this=this) == (
        "Plug: 1"
    )


def test_render_command(engine: TemplateEngine) -> None:
    assert engine.render_command("{{ value }}", 5) == "5"
    assert engine.render_command("{{ value }}", 21.0) == "21.0"
    assert engine.render_command("{{ value }}", True) == "True"
    assert engine.render_command('{"state": "{{ value }}"}', "ON") == '{"state": "ON"}'
    assert engine.render_command("{{ value | int }}", "42.9") == "42"
    assert engine.render_command("{{ (value * 2.55) | round(0) }}", 100) == "255"
    compiled = engine.compile('{"brightness": {{ value }}}')
    assert engine.render_command(compiled, 128) == '{"brightness": 128}'
    assert compiled.render_command(64) == compiled.render_value(64) == '{"brightness": 64}'
    assert engine.render("{{ value_json.a }}", b'{"a": 1}') == "1"


def test_fixture_templates_render(engine: TemplateEngine) -> None:
    """The templates of the captured-style discovery fixtures, against matching state payloads."""
    cases = [
        ("{{ value_json.temperature }}", Z2M_STATE, "21.5"),
        ("{{ value_json.state }}", b'{"state":"online"}', "online"),
        ("{{value_json.POWER}}", b'{"Time":"2024-05-01T12:00:00","POWER":"ON"}', "ON"),
        ("{{ value_json.occupancy }}", b'{"occupancy":true,"battery":100}', "True"),
        ("{{ 'ON' if value | int > 0 else 'OFF' }}", b"2", "ON"),
        ("{{ 'ON' if value | int > 0 else 'OFF' }}", b"0", "OFF"),
    ]
    for source, payload, expected in cases:
        assert render(engine, source, payload) == expected
