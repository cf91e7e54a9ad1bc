"""The vision node: cameras -> object detection (Hailo-8 or CPU) -> counts, occupancy, events,
snapshots and ``ai_inference_results`` records.

Layout: ``sources/`` (frame sources: picamera2, opencv, files), ``detectors/`` (hailo, cpu, and
the selection with fallback), ``pipeline.py`` (latest-frame slots, occupancy with off-delay,
zones, rate meters), ``draw.py`` (annotated JPEG snapshots), ``entities.py`` (what Home
Assistant sees), ``agent.py`` (the node). OpenCV and numpy come with the ``vision`` extra and
are imported only where frames are touched, so the config always validates without them.
"""
