"""The system node's entity declarations (one place for device classes, units, categories).

Most system metrics are diagnostics of the machine (``entity_category: diagnostic``); the VPN
peers' connectivity is a primary entity, since the cloud link depends on it.
"""

from __future__ import annotations

from spark.core.agent.entities import BinarySensor, Entity, EntityCategory, Sensor

DIAG: EntityCategory = "diagnostic"
THROTTLE = {  # key suffix (= flag name) -> entity name
    "under_voltage": "Under-voltage",
    "freq_capped": "ARM frequency capped",
    "throttled": "Throttled",
    "soft_temp_limit": "Soft temperature limit",
}


def _percent(key: str, name: str, icon: str, attributes: bool = False) -> Sensor:
    return Sensor(key=key, name=name, unit="%", state_class="measurement", icon=icon,
                  entity_category=DIAG, suggested_display_precision=1, attributes=attributes)


def _rate(key: str, name: str, icon: str) -> Sensor:
    return Sensor(key=key, name=name, unit="kB/s", device_class="data_rate",
                  state_class="measurement", icon=icon, entity_category=DIAG,
                  suggested_display_precision=1)


def _temperature(key: str, name: str, attributes: bool = False) -> Sensor:
    return Sensor(key=key, name=name, device_class="temperature", unit="°C",
                  state_class="measurement", entity_category=DIAG,
                  suggested_display_precision=1, attributes=attributes)


def static_entities() -> list[Entity]:
    return [
        _percent("cpu_percent", "CPU", "mdi:cpu-64-bit"),
        *(Sensor(key=f"load_{n}", name=f"Load {n} min", state_class="measurement",
                 icon="mdi:gauge", entity_category=DIAG, suggested_display_precision=2)
          for n in (1, 5, 15)),
        _percent("memory_percent", "Memory used", "mdi:memory"),
        _rate("net_rx", "Network in", "mdi:download-network"),
        _rate("net_tx", "Network out", "mdi:upload-network"),
        Sensor(key="boot_time", name="Last boot", device_class="timestamp",
               entity_category=DIAG, icon="mdi:restart"),
    ]


def cpu_temperature() -> Entity:
    return _temperature("cpu_temperature", "CPU temperature", attributes=True)


def disk(key: str, mountpoint: str) -> Entity:
    return _percent(key, f"Disk {mountpoint} used", "mdi:harddisk", attributes=True)


def throttle_entities() -> list[Entity]:
    entities: list[Entity] = [
        BinarySensor(key=f"throttle_{flag}", name=name, device_class="problem",
                     entity_category=DIAG, attributes=True)
        for flag, name in THROTTLE.items()
    ]
    entities.append(BinarySensor(key="throttle_occurred", name="Throttling since boot",
                                 device_class="problem", entity_category=DIAG, attributes=True))
    return entities


def hailo_health() -> Entity:
    return BinarySensor(key="hailo", name="Hailo-8", device_class="problem",
                        entity_category=DIAG, attributes=True, icon="mdi:chip")


def hailo_temperature() -> Entity:
    return _temperature("hailo_temperature", "Hailo-8 temperature")


def vpn_peer(key: str, name: str) -> list[Entity]:
    return [
        BinarySensor(key=key, name=name, device_class="connectivity", attributes=True,
                     icon="mdi:vpn"),
        Sensor(key=f"{key}_handshake_age", name=f"{name} handshake age",
               device_class="duration", unit="s", state_class="measurement",
               entity_category=DIAG),
    ]
