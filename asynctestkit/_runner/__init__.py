"""``python -m asynctestkit``: the unittest runner with workers, shards and JUnit XML.

The command line is ``python -m unittest``'s (`_cli.TestProgram` subclasses
``unittest.TestProgram``), with more options. Modules, in the order a run
goes through them:

* ``_cli.py``: the arguments, the environment, the serial run;
* ``_units.py``: the tests as a flat list, grouped into units that stay in
  one process (a module with module fixtures, else a class); shards and the
  durations file;
* ``_pool.py`` and ``_worker.py``: ``-j N``, the worker processes, and
  ``_wire.py``, the frames they send;
* ``_result.py``: the result that prints (unittest's own) and records;
* ``_junit.py``: the JUnit XML report.
"""

__all__ = ()
