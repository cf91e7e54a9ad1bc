"""Codes as the panel and the API see them, offline: each refusal of a lock's or an alarm panel's
code is a ``CodeError`` with its reason (the panel words it by the reason), nothing is
published and the message never holds the code; the panel's code field is asked for by the
platform's data (``Control.code``) and gets the number pad only for a digits-only format."""

from __future__ import annotations

from typing import Any

import pytest
from platform_cases import Offline

from spark.core.errors import CodeError
from spark.core.platforms import platform_for
from spark.ui.codes import CODE_REFUSED, code_format, numeric_code

LOCK = {"state_topic": "state", "command_topic": "set", "code_format": r"^\d{4}$"}
ALARM = {"state_topic": "state", "command_topic": "set", "code": "0123"}

# (platform, config, service, data, reason)
REFUSALS: list[tuple[str, dict[str, Any], str, dict[str, Any], str]] = [
    ("lock", LOCK, "lock", {}, "missing"),
    ("lock", LOCK, "unlock", {"code": ""}, "missing"),
    ("lock", LOCK, "unlock", {"code": "12a4"}, "form"),
    ("lock", LOCK, "lock", {"code": "9" * 65}, "form"),
    ("lock", LOCK, "lock", {"code": True}, "form"),
    ("lock", {**LOCK, "code_format": "^\u2028?\\d{4}$"}, "lock", {"code": "x"}, "form"),
    ("alarm_control_panel", ALARM, "alarm_disarm", {}, "missing"),
    ("alarm_control_panel", ALARM, "alarm_arm_home", {"code": "0124"}, "wrong"),
    ("alarm_control_panel", ALARM, "alarm_disarm", {"code": ["0123"]}, "form"),
    ("alarm_control_panel", {**ALARM, "code": "REMOTE_CODE"}, "alarm_disarm", {"code": ""},
     "missing"),
]


@pytest.mark.parametrize(("platform", "config", "service", "data", "reason"), REFUSALS,
                         ids=[f"{p} {s} {r} {i}" for i, (p, _, s, _, r) in enumerate(REFUSALS)])
async def test_each_refused_code_is_a_code_error_with_its_reason(
        platform: str, config: dict[str, Any], service: str, data: dict[str, Any],
        reason: str) -> None:
    hub = Offline()
    record = hub.add(platform, 0, config)
    with pytest.raises(CodeError) as refused:
        await hub.services.call(service, record.entity_id, data)
    assert refused.value.reason == reason and reason in CODE_REFUSED
    code = data.get("code")
    if isinstance(code, str) and code:
        assert code not in str(refused.value)
    assert "\u2028" not in str(refused.value)  # a pattern's unprintables are not passed on
    assert hub.sent == []


@pytest.mark.parametrize(("fmt", "numeric"), [
    ("number", True), ("text", False), (r"^\d{4}$", True), (r"\d+", True), (r"^[0-9]{4,8}$", True),
    (r"^\d*$", True), (r"^\d{4}$|^x$", False), (".*", False), (r"^\w{4}$", False),
    (r"^(\d{4}|<b>)$", False),
])
def test_the_number_pad_only_for_a_digits_only_format(fmt: str, numeric: bool) -> None:
    assert numeric_code(fmt) is numeric


@pytest.mark.parametrize(("platform", "config", "asked"), [
    ("lock", LOCK, r"^\d{4}$"),
    ("lock", {"state_topic": "state", "command_topic": "set"}, None),
    ("alarm_control_panel", ALARM, "number"),
    ("alarm_control_panel", {**ALARM, "code": "REMOTE_CODE_TEXT"}, "text"),
    ("alarm_control_panel", {"state_topic": "state", "command_topic": "set"}, None),
    ("switch", {"command_topic": "set"}, None),
])
def test_the_panel_asks_for_a_code_by_the_platforms_data(
        platform: str, config: dict[str, Any], asked: str | None) -> None:
    hub = Offline()
    hub.add(platform, 0, config)
    if "state_topic" in config:  # (an alarm panel's attributes come with its first state)
        hub.feed(platform, 0, config, [("state_topic", "disarmed" if platform != "lock"
                                        else "LOCKED")])
    record = hub.registry.get(f"{platform}.case_0")
    spec = platform_for(platform).control
    assert record is not None and spec is not None
    assert code_format(spec, record) == asked
