"""The on-disk study: everything a study folder holds and the rules for reading and
writing it (docs/studies.md).

* ``store``: the folder (``study.json``, ``config.yaml``, the logs, the result,
  predictions), its paths relative to the folder, atomic writes;
* ``database``: Ax's SQL storage pointed at the study's ``ax.sqlite``, read-only readers;
* ``ax_tables``: the trials read straight from Ax's SQLite tables, without Ax;
* ``lock``: one writer per study;
* ``completion`` and ``recovery``: trials completed so that a kill never loses one, and
  what a crash leaves for the next run;
* ``check``: ``bomerge study check``, every file against the others;
* ``remedies``: what a message about a damaged file tells the user to do.

Nothing here imports the rest of the search but `ax_logging` (an import-linter contract):
the loop, the judgement and the readers all stand on it.
"""
