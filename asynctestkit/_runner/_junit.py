"""The JUnit XML report (``--junit-xml PATH``), as CI systems read it.

``<testsuites>`` holds one ``<testsuite>`` per test class (``name`` the
class's dotted name), each ``<testcase classname=... name=... time=...>``
with a ``<failure>`` or ``<error>`` (``message`` the exception's last line,
the text its traceback), a ``<skipped message=reason>``, and with ``-b`` the
captured ``<system-out>``/``<system-err>``. An error outside a test (a
``setUpClass`` that raised) is a testcase named after the fixture.
"""

from __future__ import annotations

import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._result import Record

__all__ = ("write_junit",)

# Characters XML 1.0 cannot hold (a test may print anything).
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FIXTURE = re.compile(r"^(\w+) \((.+)\)$")  # "setUpClass (mod.Class)"


def _clean(text: str) -> str:
    return _INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def split_id(record: Record) -> tuple[str, str]:
    """Return (classname, name) of a record: ``mod.Class``, ``test_x``."""
    fixture = _FIXTURE.match(record.test_id)
    if fixture:
        return fixture.group(2), fixture.group(1)
    classname, _, name = record.test_id.rpartition(".")
    return classname, name


def write_junit(path: str, records: list[Record], seconds: float) -> None:
    """Write ``records`` to ``path`` as JUnit XML."""
    root = ET.Element("testsuites", name="asynctestkit", time=f"{seconds:.3f}")
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, float]] = {}
    for record in records:
        classname, name = split_id(record)
        suite = suites.get(classname)
        if suite is None:
            suite = suites[classname] = ET.SubElement(root, "testsuite", name=classname)
            counts[classname] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
        count = counts[classname]
        count["tests"] += 1
        count["time"] += record.seconds
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{record.seconds:.3f}")
        for kind, message, text in record.problems:
            tag = "failure" if kind == "failure" else "error"
            count["failures" if tag == "failure" else "errors"] += 1
            element = ET.SubElement(case, tag, message=_clean(message), type=message.partition(":")[0])
            element.text = _clean(text)
        if record.outcome == "skipped":
            count["skipped"] += 1
            ET.SubElement(case, "skipped", message=_clean(record.reason))
        elif record.outcome == "unexpected success":
            count["failures"] += 1
            ET.SubElement(case, "failure", message="unexpected success", type="UnexpectedSuccess")
        if record.out:
            ET.SubElement(case, "system-out").text = _clean(record.out)
        if record.err:
            ET.SubElement(case, "system-err").text = _clean(record.err)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for classname, suite in suites.items():
        count = counts[classname]
        for key in totals:
            totals[key] += int(count[key])
            suite.set(key, str(int(count[key])))
        suite.set("time", f"{count['time']:.3f}")
        suite.set("timestamp", stamp)
        suite.set("hostname", socket.gethostname())
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
