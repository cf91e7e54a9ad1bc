"""What ``spark node vision --help`` says about the vision node (text only: imports nothing)."""

SUMMARY = "cameras -> object detection (Hailo-8 or CPU) -> counts, occupancy, events, snapshots"

DESCRIPTION = """\
The vision node reads its cameras, runs a detector on the frames and publishes, per camera and
zone and per configured label (default: person), a count and an occupancy sensor, a detection
event, a snapshot image (boxes drawn) and a "take snapshot" button.

Detectors (detector: {type: ...}; fallback: runs when the detector is unusable, the detector
and detector_problem entities say which one runs and why):
  hailo  the Hailo-8 through HailoRT with a compiled YOLO model, a HEF file with NMS on the
         chip (hef: /usr/share/hailo-models/yolov8s_h8.hef by default): 80 COCO labels
  cpu    with model: an ONNX YOLOv8 / YOLO11 model through OpenCV (80 COCO labels);
         without one (the default and the usual fallback): the built-in people detector,
         OpenCV's HOG pedestrian detector plus a Haar frontal-face cascade. No download.

What the built-in CPU fallback can see: people only (label "person"): faces turned to the
camera from about 60 px tall in a 640x480 frame (a face box is widened to a person box), and
whole upright people that fit in the frame with a margin (HOG; unreliable: a test with
pedestrians 120-480 px tall found none). What it cannot see: any other label (cars, cats,
...), people sitting, lying, small in the distance or mostly hidden, and people in profile or
facing away. Faces on coins, posters and screens can fool it. Its scores are classifier
margins, not probabilities. For more, use hailo or an ONNX model.

Sources (cameras: [{id: ..., source: {type: ...}, fps: ..., zones: [...]}]):
  files      an image or a folder of images; the default camera "demo" loops over the bundled
             sample scenes at 1 frame/s
  opencv     a camera index (/dev/videoN), a stream URL (rtsp://...) or a video file
  picamera2  a Raspberry Pi CSI camera
"""
