"""``update`` (core/platforms/update.py) as a table of Home Assistant's cases, after HA's
``tests/components/mqtt/test_update.py``: plain installed version with a latest version topic,
JSON state with every field, in_progress and update_percentage, templates, the on/off rule
(equal, newer, older, not comparable), invalid JSON fields ignored, ``install``."""

from __future__ import annotations

import pytest
from ha_cases import Case, ids, run_offline, run_through_hub

U = {"state_topic": "installed", "latest_version_topic": "latest"}
J = {"state_topic": "state"}
INST = {**J, "command_topic": "set", "payload_install": "install"}

CASES = [
    Case("installed only is unknown", U, [("state_topic", "1.9.0")], state=None,
         attrs={"installed_version": "1.9.0", "latest_version": None}),
    Case("same versions are off", U, [("state_topic", "1.9.0"),
                                      ("latest_version_topic", "1.9.0")], state="off"),
    Case("newer latest is on", U, [("state_topic", "1.9.0"), ("latest_version_topic", "2.0.0")],
         state="on", attrs={"installed_version": "1.9.0", "latest_version": "2.0.0"}),
    Case("older latest is off", U, [("state_topic", "2.0.0"), ("latest_version_topic", "1.9.0")],
         state="off"),
    Case("v prefix compares", U, [("state_topic", "v1.10"), ("latest_version_topic", "v1.9")],
         state="off"),
    Case("not comparable and different is on", U,
         [("state_topic", "beta"), ("latest_version_topic", "gamma")], state="on"),
    Case("JSON state", J, [("state_topic",
                            '{"installed_version": "1.9.0", "latest_version": "1.9.1", '
                            '"title": "Firmware", "release_summary": "Fixes", '
                            '"release_url": "https://example.com/r", '
                            '"entity_picture": "https://example.com/i.png"}')],
         state="on", attrs={"title": "Firmware", "release_summary": "Fixes",
                            "release_url": "https://example.com/r",
                            "entity_picture": "https://example.com/i.png",
                            "in_progress": False, "auto_update": False,
                            "skipped_version": None}),
    Case("in progress with percentage", J, [("state_topic",
                                             '{"installed_version": "1.9.0", '
                                             '"latest_version": "2.0.0", "in_progress": true, '
                                             '"update_percentage": 42}')],
         state="on", attrs={"in_progress": True, "update_percentage": 42}),
    Case("a percentage means in progress", J,
         [("state_topic", '{"in_progress": false}'),
          ("state_topic", '{"update_percentage": 51.75}')],
         attrs={"in_progress": True, "update_percentage": 51.75}),
    Case("percentage null ends it", J,
         [("state_topic", '{"update_percentage": 100}'), ("state_topic",
                                                         '{"update_percentage": null}')],
         attrs={"in_progress": False, "update_percentage": None}),
    Case("empty JSON is unknown", J, [("state_topic", "{}")], state=None),
    Case("display precision", {**J, "display_precision": 1}, [("state_topic", "1.0")],
         attrs={"display_precision": 1}),
    Case("percentage null", J, [("state_topic", '{"update_percentage": 10}'),
                                ("state_topic", '{"update_percentage": null}')],
         attrs={"update_percentage": None}),
    Case("in_progress not a bool ignored whole", J,
         [("state_topic", '{"installed_version": "1", "latest_version": "1"}'),
          ("state_topic", '{"latest_version": "2", "in_progress": "yes"}')],
         state="off", attrs={"latest_version": "1", "in_progress": False}),
    Case("percentage out of range ignored", J, [("state_topic", '{"update_percentage": 140}')],
         attrs={"update_percentage": None}),
    Case("empty payload ignored", U, [("state_topic", "1.0"), ("state_topic", "")],
         attrs={"installed_version": "1.0"}),
    Case("value template", {**J, "value_template": "{{ value_json.installed }}"},
         [("state_topic", '{"installed": "3.1"}')], attrs={"installed_version": "3.1"}),
    Case("latest version template", {**U, "latest_version_template": "{{ value_json.v }}"},
         [("state_topic", "3.1"), ("latest_version_topic", '{"v": "3.2"}')], state="on",
         attrs={"latest_version": "3.2"}),
    Case("title from config", {**U, "title": "Bridge firmware"}, [("state_topic", "1")],
         attrs={"title": "Bridge firmware"}),
    Case("install publishes", INST, call=("install", {}), published=[("command_topic", "install")]),
    Case("install through a template", {**INST, "command_template": '{"do": "{{ value }}"}'},
         call=("install", {}), published=[("command_topic", '{"do": "install"}')]),
    Case("install without payload_install refused", {**J, "command_topic": "set"},
         call=("install", {}), error="payload_install"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
async def test_update_case(case: Case):
    await run_offline("update", case)


async def test_update_cases_through_hub_and_mosquitto(broker):
    await run_through_hub(broker, "update", CASES)
