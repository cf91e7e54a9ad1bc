"""The ``type``-keyed registry helper (core/registry.py) and the node-kind table built on it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import ClassVar, get_args

import pytest

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeAgent
from spark.core.errors import SparkError
from spark.core.registry import TypeRegistry, UnknownType
from spark.nodes.kinds import KINDS, NodeConfig, agent_class, kind_about, kinds, node_config_model


class Backend:
    type: ClassVar[str] = "base"


class Fast(Backend):
    type = "fast"


class Slow(Backend):
    type = "slow"


def test_an_unknown_type_is_an_error_listing_the_known_ones() -> None:
    reg: TypeRegistry[type[Backend]] = TypeRegistry("test backend", {"fast": Fast})
    reg.register(Slow)
    assert reg.get("fast") is Fast and reg.get("slow") is Slow
    assert list(reg) == ["fast", "slow"] and "slow" in reg and len(reg) == 2
    with pytest.raises(UnknownType) as err:
        reg.get("zfs")
    assert str(err.value) == "unknown test backend 'zfs'; known: fast, slow"
    assert isinstance(err.value, KeyError) and isinstance(err.value, SparkError)
    with pytest.raises(ValueError, match="'fast' is registered twice"):
        reg.register(Fast)


def test_the_error_for_an_unknown_type_can_be_the_packages_own() -> None:
    class NasError(SparkError):
        pass

    reg: TypeRegistry[type[Backend]] = TypeRegistry("NAS backend type", error=NasError)
    with pytest.raises(NasError, match="unknown NAS backend type 'x'; known: none"):
        reg.get("x")


def test_a_lazy_entry_is_imported_when_first_asked_for(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "spark_test_plugin_ok.py").write_text("class Plugin:\n    type = 'ok'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: TypeRegistry[type] = TypeRegistry("plugin", {"ok": "spark_test_plugin_ok:Plugin"})
    assert "spark_test_plugin_ok" not in sys.modules
    assert reg.get("ok").__name__ == "Plugin"
    assert "spark_test_plugin_ok" in sys.modules
    monkeypatch.delitem(sys.modules, "spark_test_plugin_ok")


def test_a_backend_whose_import_fails_is_skipped_with_a_log_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "spark_test_plugin_bad.py").write_text("import hailo_platform_not_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: TypeRegistry[type] = TypeRegistry("detector", {
        "cpu": Fast, "hailo": "spark_test_plugin_bad:HailoDetector"})
    with caplog.at_level(logging.WARNING, "spark.core.registry"):
        assert reg.values() == [Fast]  # the failing one is skipped, the others are there
    assert "detector 'hailo' is not available here" in caplog.text
    assert "hailo_platform_not_here" in caplog.text
    assert reg.keys() == ["cpu"]
    with pytest.raises(UnknownType, match=r"known: cpu \('hailo' is skipped: "
                                          r"ModuleNotFoundError"):
        reg.get("hailo")


def test_the_kind_table_gives_config_model_agent_and_help_for_every_kind() -> None:
    union = get_args(get_args(NodeConfig)[0])
    assert [m.model_fields["kind"].default for m in union] == [KINDS.get(k).name for k in KINDS]
    assert set(kinds()) == {"simulated", "power", "system", "nas", "vision", "voice"}
    for kind in kinds():
        model = node_config_model(kind)
        cls = agent_class(kind)
        assert model is not None and issubclass(cls, NodeAgent) and cls.kind == kind
        # the agent is generic over exactly its kind's config: NodeAgent[<model>]
        assert any(get_args(base) == (model,) for base in cls.__orig_bases__), kind
        about = kind_about(kind)
        assert about.summary and about.description
    node = SparkConfig.model_validate({"nodes": [{"id": "p", "kind": "power"}]}).nodes[0]
    assert type(node) is node_config_model("power")
    assert node_config_model("zigbee") is None
    with pytest.raises(UnknownType, match="unknown node kind 'zigbee'; known: nas, power, "):
        agent_class("zigbee")
