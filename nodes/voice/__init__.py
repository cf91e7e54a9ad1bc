"""The voice node: microphone (or WAV, typed text) -> wake word -> speech -> intent -> reply.

Layout: ``audio.py`` PCM helpers; ``sources/`` where sound or text comes from; ``wake.py``,
``vad.py``, ``stt/``, ``tts.py`` the pipeline stages (each an ABC + registry keyed by ``type``;
``synthproc.py`` runs a synthesiser subprocess, killed and reaped when its reply is cancelled);
``vocab.py`` / ``grammar.py`` / ``numbers.py`` the closed vocabulary built from the hub registry;
``intents.py`` text -> intent; ``actions.py`` intent -> hub RPC -> reply text; ``pipeline.py``
the state machine; ``respeaker.py`` the array's USB tuning interface and LED ring; ``agent.py``
the node (entities, MQTT, pipeline events on ``<base>/<node>/pipeline``).
"""
