"""berthd's log: every event is one line, whatever the values a client sends hold.
An API error message quotes the client's value; CR, LF and ANSI escapes in it are escaped."""

import os
import unittest

import api
import harness

FORGED = "2026-12-02T00:00:00.000Z info api action=DeleteModelService region=ap-guangzhou req=x ok"


class LogLines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t1950")
        cls.d = api.Berthd(os.path.join(cls.tmp, "data"), cls.tmp).start()
        cls.c = cls.d.client()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()
        harness.rmtree(cls.tmp)

    def test_client_values_cannot_forge_lines(self):
        value = "ASC\r\n" + FORGED + "\n\x1b[2J end"
        e = self.c.error("DescribeTrainingModels", {"Order": value})
        self.assertEqual(e["Code"], "InvalidParameterValue", e)
        self.assertIn("Order", e["Message"])
        harness.wait_until(lambda: "error=InvalidParameterValue" in self.d.log(), 3,
                           what="the error in berthd's log")
        harness.assert_log_lines(self, self.d.log(), FORGED)
        self.assertIn("got 'ASC\\r\\n" + FORGED + "\\n\\x1b[2J", self.d.log())
