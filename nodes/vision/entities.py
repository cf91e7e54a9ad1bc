"""What the vision node shows Home Assistant: entity declarations and their keys.

Per camera ``<cam>`` and configured label ``<label>`` (slugged), and per zone ``<zone>``::

    sensor          <cam>_<label>_count             objects in view (state_class measurement)
    binary_sensor   <cam>_<label>_occupancy         occupancy, off after the off-delay
    sensor          <cam>_<zone>_<label>_count      ... within the zone
    binary_sensor   <cam>_<zone>_<label>_occupancy
    event           <cam>_detection                 event_type = label; score, box, zones
    image           <cam>_snapshot                  JPEG with boxes (on detection, on request)
    button          <cam>_take_snapshot             publish a snapshot now
    binary_sensor   <cam>_source_problem            camera / stream unreadable (diagnostic)

Per node: ``detector`` (active backend, enum, with the reason), ``detector_problem``,
``inference_latency`` / ``inference_fps`` / ``frames_dropped`` (diagnostic),
``confidence_threshold`` (number) and ``detect`` (switch).
"""

from __future__ import annotations

from spark.core.agent.entities import (
    BinarySensor,
    Button,
    Entity,
    Event,
    Image,
    Number,
    Sensor,
    Switch,
)
from spark.nodes.vision.config import CameraConfig, VisionNodeConfig, slug

DETECTOR_STATES = ["hailo", "cpu", "none"]


def count_key(camera: str, label: str, zone: str | None = None) -> str:
    return f"{camera}_{zone + '_' if zone else ''}{slug(label)}_count"


def occupancy_key(camera: str, label: str, zone: str | None = None) -> str:
    return f"{camera}_{zone + '_' if zone else ''}{slug(label)}_occupancy"


def event_key(camera: str) -> str:
    return f"{camera}_detection"


def snapshot_key(camera: str) -> str:
    return f"{camera}_snapshot"


def snapshot_button_key(camera: str) -> str:
    return f"{camera}_take_snapshot"


def source_problem_key(camera: str) -> str:
    return f"{camera}_source_problem"


def node_entities() -> list[Entity]:
    return [
        Sensor(key="detector", name="Detector", options=list(DETECTOR_STATES),
               entity_category="diagnostic", attributes=True, icon="mdi:chip"),
        BinarySensor(key="detector_problem", name="Detector problem", device_class="problem",
                     entity_category="diagnostic", attributes=True),
        Sensor(key="inference_latency", name="Inference latency", device_class="duration",
               unit="ms", state_class="measurement", suggested_display_precision=1,
               entity_category="diagnostic", icon="mdi:timer-outline"),
        Sensor(key="inference_fps", name="Inference rate", unit="fps", state_class="measurement",
               suggested_display_precision=1, entity_category="diagnostic", icon="mdi:speedometer"),
        Sensor(key="frames_dropped", name="Frames dropped", state_class="total_increasing",
               entity_category="diagnostic", attributes=True, icon="mdi:image-off-outline"),
        Number(key="confidence_threshold", name="Confidence threshold", min=0.05, max=0.95,
               step=0.05, mode="slider", entity_category="config", icon="mdi:target"),
        Switch(key="detect", name="Detect", entity_category="config", icon="mdi:cctv"),
    ]


def camera_entities(cam: CameraConfig, cfg: VisionNodeConfig) -> list[Entity]:
    name = cam.display_name()
    out: list[Entity] = []
    areas: list[tuple[str | None, str]] = [(None, name)]
    areas += [(z.id, f"{name} {z.name or z.id.replace('_', ' ')}") for z in cam.zones]
    for zone, where in areas:
        for label in cfg.labels:
            out.append(Sensor(key=count_key(cam.id, label, zone), name=f"{where} {label} count",
                              state_class="measurement", icon="mdi:counter"))
            out.append(BinarySensor(key=occupancy_key(cam.id, label, zone),
                                    name=f"{where} {label} occupancy", device_class="occupancy"))
    out += [
        Event(key=event_key(cam.id), name=f"{name} detection", event_types=list(cfg.labels),
              icon="mdi:motion-sensor"),
        Image(key=snapshot_key(cam.id), name=f"{name} snapshot"),
        Button(key=snapshot_button_key(cam.id), name=f"{name} take snapshot",
               icon="mdi:camera"),
        BinarySensor(key=source_problem_key(cam.id), name=f"{name} camera problem",
                     device_class="problem", entity_category="diagnostic", attributes=True),
    ]
    return out
