"""The JUnit XML reports' schema, restated as rules a test can check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# The structure of the strictest common JUnit schema (Jenkins xunit-plugin's junit-10.xsd),
# restated as rules: which attributes each element may (and must) have, which children.
_JUNIT_ATTRIBUTES = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set()),
    "testsuite": ({"name", "tests", "failures", "errors", "group", "time", "skipped",
                   "timestamp", "hostname", "id", "package", "file", "log", "url"},
                  {"name", "tests", "failures", "errors"}),
    "properties": (set(), set()),
    "property": ({"name", "value"}, {"name", "value"}),
    "testcase": ({"name", "time", "classname", "group"}, {"name"}),
    "failure": ({"type", "message"}, set()),
    "error": ({"type", "message"}, set()),
    "skipped": ({"type", "message"}, set()),
    "system-out": (set(), set()),
    "system-err": (set(), set()),
}
_JUNIT_CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"testsuite", "properties", "testcase", "system-out", "system-err"},
    "properties": {"property"},
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
}
_SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")


def assert_valid_junit(text: str) -> ET.Element:
    """Parse ``text`` and check it against the JUnit schema's structure and its own counts."""
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    for node in root.iter():
        allowed, required = _JUNIT_ATTRIBUTES[node.tag]
        assert set(node.attrib) <= allowed, (node.tag, set(node.attrib) - allowed)
        assert required <= set(node.attrib), (node.tag, required - set(node.attrib))
        assert {c.tag for c in node} <= _JUNIT_CHILDREN.get(node.tag, set()), node.tag
        if node.tag in ("testsuites", "testsuite") and "time" in node.attrib:
            assert _SUREFIRE_TIME.fullmatch(node.get("time")), node.get("time")
    suites = root.findall("testsuite")
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        for kind, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert int(suite.get(attr)) == sum(1 for c in cases if c.find(kind) is not None)
    for attr, kind in (("tests", None), ("failures", "failure"), ("errors", "error")):
        cases = [c for s in suites for c in s.findall("testcase")]
        expected = len(cases) if kind is None else sum(1 for c in cases if c.find(kind) is not None)
        assert int(root.get(attr)) == expected, attr
    return root
