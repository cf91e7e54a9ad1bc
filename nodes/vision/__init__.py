"""The vision node: cameras -> object detection (Hailo-8 or CPU) -> counts, occupancy, events,
snapshots and ``ai_inference_results`` records.

Layout: ``sources/`` (frame sources: picamera2, opencv, files), ``detectors/`` (hailo, cpu, and
the selection with fallback), ``pipeline.py`` (latest-frame slots, occupancy with off-delay,
zones, rate meters), ``draw.py`` (annotated JPEG snapshots), ``entities.py`` (what Home
Assistant sees), ``agent.py`` (the node). OpenCV and numpy come with the ``vision`` extra and
are imported only where frames are touched, so the config always validates without them.
"""

HELP = """\
Camera node: frames from each camera go to one detector; per camera and label it publishes a
count, occupancy (off after off_delay), detection events, annotated snapshots, per-zone counts,
and ai_inference_results records. With no config it runs the bundled sample scenes on the CPU.

Detectors (nodes[].detector, fallback):
  hailo  YOLO HEF on a Hailo-8 through HailoRT (apt install hailo-all: HEFs in
         /usr/share/hailo-models/, more in Hailo's model zoo); version or device problems
         switch to the fallback and the detector_problem entity says why
  cpu    model: an ONNX YOLOv8/YOLO11 export run by OpenCV DNN (you provide the file: the node
         downloads nothing); without a model, the built-in people detector (HOG + face
         cascade): people only, frontal faces from ~60 px in 640x480 or whole upright people;
         not from behind, sitting, small or distant

An object counts only after confirm_frames frames (default 3) and min_area of the frame.
Counts are unknown at start until the first inference. Example: config/spark.example.yaml.
"""
