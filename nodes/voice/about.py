"""What ``spark node voice --help`` says about the voice node (text only: imports nothing)."""

SUMMARY = "voice assistant: wake word, spoken or typed commands, actions through the hub"

DESCRIPTION = """\
The voice node listens for the wake phrase "okay nabu" (a neural wake word, microWakeWord's
bundled model; "hey spark" with wake: {type: pocketsphinx}), then for one command, runs it
through the hub and says (or prints) the reply. Offline: pocketsphinx speech-to-text, no
download.

What it listens to (nodes: [{kind: voice, source: ...}]):
  console  typed lines, the default: no microphone needed. Lines come from the FIFO
           /tmp/spark-voice and from the terminal. Typed text needs no wake phrase.
  pyaudio  a microphone, e.g. {type: pyaudio, device: ReSpeaker} (the ReSpeaker 4-mic array's
           processed channel; array: {type: respeaker} adds direction of arrival and the LEDs)
  wav      a WAV file or a folder of them (tests, benchmarks)

Typing commands under `spark up`: type a line into the terminal running `spark up` and press
Enter, or from another terminal:
  echo "turn on the sim lamp" > /tmp/spark-voice

What it understands (names come from the hub's registry: entity and device names, areas, each
number's range, each select's options; rebuilt when a device is discovered):
  turn on / turn off / switch ... off / toggle      "turn off the sim lamp"
  questions about a state                           "what is the battery level"
  numbers                                           "set the setpoint to twenty one point five"
  selects                                           "set the power mode to off grid"
  buttons                                           "press the identify button"
  "system status", and "ask spark ..." / "hey spark, ask ..." (free-form: the hub's LLM
  answers through its ask method; the answer is spoken, an error or a late answer too)
A phrase it is not sure of is answered "Sorry, I didn't understand that." and nothing runs.

Other wake words: wake: {type: micro-wakeword, model: hey_jarvis} (alexa, hey_mycroft),
{type: pyopen-wakeword, model: hey_jarvis}, {type: pocketsphinx} ("hey spark"), openwakeword
or pocketsphinx-kws; other speech-to-text:
stt: {type: vosk} or faster-whisper with a model path; voice replies: tts: {type: piper} and
output: {type: pyaudio}.
"""
