"""berthd's log: every event is one line, whatever the values a client sends hold.
An API error message quotes the client's value; CR, LF and ANSI escapes in it are escaped."""

import unittest

import api
import harness

FORGED = "2026-12-02T00:00:00.000Z info api action=DeleteModelService region=ap-guangzhou req=x ok"


class LogLines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1950")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_client_values_cannot_forge_lines(self):
        value = "ASC\r\n" + FORGED + "\n\x1b[2J end"
        e = self.c.error("DescribeTrainingModels", {"Order": value})
        self.assertEqual(e["Code"], "InvalidParameterValue", e)
        self.assertIn("Order", e["Message"])
        harness.wait_until(lambda: "error=InvalidParameterValue" in self.d.log(), 3,
                           what="the error in berthd's log")
        harness.assert_log_lines(self, self.d.log(), FORGED)
        self.assertIn("got 'ASC\\r\\n" + FORGED + "\\n\\x1b[2J", self.d.log())
