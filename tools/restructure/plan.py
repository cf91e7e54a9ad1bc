"""The whole restructure as data (issue 14): what moves where, which definitions leave their
module, the new files. The engine in ``codemod.py`` only executes this table.

Repository folders stay top level; the distribution maps them under one namespace ``spark``
(``setup.py``): ``core/`` is ``spark.core``, ``hub/`` is ``spark.hub``, and so on.
"""

from __future__ import annotations

PACKAGE = "spark"
OLD_ROOTS = ("hub", "nodes", "bridges", "ui")
LAYERS = ("core", "nodes", "bridges", "hub", "ui", "app")

# (old path, new path), a file or a whole folder. Every module not listed keeps its path and
# only gains the prefix (hub/registry.py is spark.hub.registry).
MOVES: tuple[tuple[str, str], ...] = (
    # core: what every process shares
    ("hub/topics.py", "core/topics.py"),
    ("hub/errors.py", "core/errors.py"),
    ("hub/events.py", "core/events.py"),
    ("hub/rpc.py", "core/rpc.py"),
    ("hub/mqtt", "core/mqtt"),
    ("hub/config/base.py", "core/config/base.py"),
    # HA discovery is a wire format read by the hub and by the bridge's ingest
    ("hub/discovery", "core/discovery"),
    ("nodes/base", "core/agent"),
    # message formats read by more than one process
    ("nodes/telemetry.py", "core/messages/telemetry.py"),
    ("bridges/records.py", "core/messages/records.py"),
    ("nodes/vision/messages.py", "core/messages/vision.py"),
    ("nodes/voice/messages.py", "core/messages/voice.py"),
    # web: the panel and the REST API
    ("hub/api", "ui/api"),
    # app: the composition root
    ("hub/cli.py", "app/cli.py"),
    ("hub/runtime.py", "app/runtime.py"),
    ("hub/config", "app/config"),  # what is left: __init__, loader, models (the aggregate)
)

# Moved only when present: modules that issue 13's branches add (each belongs in app/).
IF_PRESENT: tuple[tuple[str, str], ...] = (
    ("hub/summary.py", "app/summary.py"),  # what `spark up` prints: reads SparkConfig and ui
)

# (file after the moves, top-level names, new module file, its docstring). The names' importers
# are rewritten to the new module; the old module imports back the ones it still uses.
EXTRACTS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("hub/__init__.py", ("__version__",), "core/__init__.py", ""),
    ("hub/entity.py", ("_SLUG_RE", "slugify"), "core/slug.py",
     "Object ids from display names (the hub's registry and the voice vocabulary)."),
    ("app/config/models.py", ("_segment", "TlsConfig", "MqttConfig"), "core/config/mqtt.py",
     "The broker connection every process makes: address, login, TLS, topics, queues."),
    ("nodes/vision/detectors/base.py", ("Box", "Detection"), "core/messages/detection.py",
     "One detected object: what the vision node publishes and the bridges store."),
)

# Files the layout needs that the moves do not create (path -> text).
NEW_FILES: dict[str, str] = {
    "core/__init__.py": '"""Shared by every process: topics, the MQTT client, RPC, events, errors,'
                        ' config base,\nthe node-agent toolkit and the message formats."""\n',
    "core/config/__init__.py": '"""Config building blocks: the strict model base, the broker'
                               ' connection."""\n',
    "core/messages/__init__.py": '"""Message formats read by more than one process (telemetry,'
                                 ' inference, outbox records, voice)."""\n',
    "app/__init__.py": '"""Composition root: the command line, the runtime that starts each'
                       ' process, the whole-config\naggregate. The only layer that imports every'
                       ' other."""\n',
    "core/py.typed": "", "nodes/py.typed": "", "bridges/py.typed": "", "ui/py.typed": "",
    "app/py.typed": "",
    "setup.py": '''"""Each layer folder of the repository installs as ``spark.<layer>``."""

from setuptools import find_packages, setup

LAYERS = ("core", "nodes", "bridges", "hub", "ui", "app")

setup(
    package_dir={f"spark.{layer}": layer for layer in LAYERS},
    packages=[f"spark.{name}" for layer in LAYERS
              for name in find_packages(include=[layer, f"{layer}.*"])],
)
''',
}

# Module docstrings replaced after the extracts (the folder's job changed).
DOCSTRINGS: dict[str, str] = {
    "hub/__init__.py": "The hub: registry, templates, state, services, recorder, broker"
                       " management.",
    "ui/__init__.py": "The web layer: the NiceGUI panel and the REST API, over the hub's view.",
}

# After the rewrite: (file, text, replacement) where a name alone cannot tell code from prose.
PATCHES: tuple[tuple[str, str, str], ...] = (
    ("app/config/__init__.py", '"MqttConfig": "spark.app.config.models"',
     '"MqttConfig": "spark.core.config.mqtt"'),
    ("app/config/__init__.py", '"TlsConfig": "spark.app.config.models"',
     '"TlsConfig": "spark.core.config.mqtt"'),
    ("bridges/sinks/kafka/source.py", "``cloud_sources(app.config,", "``cloud_sources(hub.config,"),
    ("bridges/sinks/kafka/client.py", 'getLogger("bridges.sinks.kafka.rdkafka")',
     'getLogger("spark.bridges.sinks.kafka.rdkafka")'),
    ("scripts/test", "ruff check hub nodes bridges ui tests bench tools",
     "ruff check core nodes bridges hub ui app tests bench tools setup.py"),
)

# pyproject.toml: (regex, replacement); each must match once.
PYPROJECT: tuple[tuple[str, str], ...] = (
    (r'\[tool\.setuptools\.packages\.find\]\ninclude = \[[^\]]*\]\n\n', ""),
    (r'\[tool\.setuptools\.package-data\]\n(?:[^\[\n][^\n]*\n)+',
     '[tool.setuptools.package-data]\n'
     + "".join(f'"spark.{layer}" = ["py.typed"]\n' for layer in LAYERS)
     + '"spark.nodes.vision" = ["samples/*.jpg", "samples/*.md"]\n'),
    (r'(\[tool\.ruff\.lint\]\n(?:[^\[\n][^\n]*\n)+)',
     '\\1\n[tool.ruff.lint.isort]\nknown-first-party = ["spark"]\n'),
)

# Text files rewritten besides *.py (module paths and file paths in them).
TEXT_SUFFIXES = (".md", ".toml", ".cfg", ".ini", ".txt", ".yaml", ".yml", ".sh", ".example")
TEXT_FILES = ("scripts/test", "scripts/up")
# Never rewritten: data, results, this tool, and files already written for the new layout.
SKIP_PREFIXES = ("tests/fixtures/", "bench/results/", "tools/restructure/", "test-artifacts/",
                 "ARCHITECTURE.md", "tests/test_architecture.py", "setup.py")
