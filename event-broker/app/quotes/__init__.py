"""The quote recorder: streamed bid/ask of the strategies' symbols kept in SQLite.

``store.py`` (the file, its batching writer and its reader; no broker library),
``request.py`` (what the daemon tells the recorder), ``recorder.py`` (the recording process,
``python -m app.quotes.recorder``), ``supervisor.py`` (the daemon's side: starts that process
for each trading session, restarts it after failures, stops it), ``arrival.py`` (workers'
arrival quotes from the file).
"""
