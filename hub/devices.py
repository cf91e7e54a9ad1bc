"""The registry's devices: made or updated from a config's ``device`` block (found by any of its
identifiers or connections, as HA's device registry), and dropped with their last entity."""

from __future__ import annotations

from spark.core.discovery import DiscoveredEntity
from spark.hub.entity import Device

DEVICE_FIELDS = ("name", "manufacturer", "model", "model_id", "sw_version", "hw_version",
                 "serial_number", "suggested_area", "via_device", "configuration_url")


def device_for(devices: dict[str, Device], spec: DiscoveredEntity) -> Device | None:
    """The device ``spec`` belongs to, made or updated from its ``device`` block; None when it
    has no block or the block no identifier and no connection."""
    desc = spec.device
    if desc is None:
        return None
    ids = [str(i) for i in desc.identifiers] or [f"{a}:{b}" for a, b in desc.connections]
    if not ids:
        return None
    device = None
    for ident in ids:
        device = devices.get(ident)
        if device is not None:
            break
    if device is None:
        device = Device(id=ids[0])
        devices[device.id] = device
    if desc.connections:
        device.connections = sorted({(str(a), str(b)) for a, b in desc.connections}
                                    | set(device.connections))
    for attr in DEVICE_FIELDS:
        value = getattr(desc, attr, None)
        if value is not None:
            setattr(device, attr, value)
    device.identifiers = sorted(set(device.identifiers) | set(ids))
    return device


def detach(devices: dict[str, Device], device_id: str | None, entity_id: str) -> None:
    """``entity_id`` leaves its device; a device without entities and triggers goes."""
    device = devices.get(device_id or "")
    if device is None:
        return
    device.entities.discard(entity_id)
    device.triggers.discard(entity_id)
    if not device.entities and not device.triggers:
        del devices[device.id]
