"""Accounts and postpaid billing (docs/billing.md) with a billing hour of 2 s: the administrator
makes accounts and their keys and tops them up, an account's keys cannot; a postpaid version
started by an account freezes two hours of price x instances, each billing hour is charged by
the instance-time used in it (prorated to the millisecond, rounded up to the fen), a stop
charges the last part of an hour and refunds the freeze; an account that cannot cover the next
hour gets ARREARS_STOP, RESUME is refused until a top-up resumes it; every balance is what its
ledger adds up to; the usage report by tag, account and service adds up to the ledger, also
through `berth bill`."""

import json
import math
import os
import sqlite3
import subprocess
import sys
import time
import unittest

import api
import harness

HOUR_S = 2
PRICE = 70  # fen per instance-hour of TI.S.MEDIUM.POST


def create_params(name, replicas, tags=None):
    p = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR",
         "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec sleep 600", "Replicas": replicas}
    if tags:
        p["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
    return p


class Billing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2400", extra=["--billing-hour-s", str(HOUR_S)])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    # -- helpers -------------------------------------------------------------------------

    def account(self, name, balance=0):
        a = self.c.ok("CreateAccount", {"AccountName": name, "Balance": balance})["Account"]
        key = self.c.ok("CreateAccountKey", {"AccountId": a["AccountId"]})
        client = api.ApiClient(self.d.port, key["SecretId"], key["SecretKey"])
        return a["AccountId"], client

    def ledger(self, **q):
        rows, offset = [], 0
        while True:
            r = self.c.ok("DescribeLedger", dict(q, Offset=offset, Limit=1000))
            rows += r["LedgerSet"]
            offset += len(r["LedgerSet"])
            if offset >= r["TotalCount"]:
                return rows

    def service(self, client, sid):
        return client.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def check_consistent(self, acc):
        a = self.c.ok("DescribeAccounts", {"AccountIds": [acc]})["AccountSet"][0]
        rows = self.ledger(AccountId=acc)
        bal = sum(r["Amount"] for r in rows if r["Kind"] == "TOPUP") - \
            sum(r["Amount"] for r in rows if r["Kind"] == "CHARGE")
        fro = sum(r["Amount"] for r in rows if r["Kind"] == "FREEZE") - \
            sum(r["Amount"] for r in rows if r["Kind"] == "REFUND")
        self.assertEqual((a["Balance"], a["Frozen"]), (bal, fro), rows)
        self.assertEqual(a["LedgerCheck"], {"Balance": bal, "Frozen": fro, "Consistent": True})
        if rows:  # each row carries the account's sums after it
            self.assertEqual((rows[-1]["Balance"], rows[-1]["Frozen"]), (bal, fro))
        return a, rows

    def check_charge_amounts(self, rows):
        for r in rows:
            if r["Kind"] == "CHARGE":
                self.assertEqual(r["Amount"], math.ceil(r["Price"] * r["InstanceMs"] / (HOUR_S * 1000)), r)

    def delete_and_settle(self, client, s, acc):
        """Delete the group of version s: its last part of an hour charged, its freeze refunded."""
        sid = s["ServiceId"]
        client.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})
        harness.wait_until(lambda: self.ledger(ServiceId=sid)[-1]["Kind"] == "REFUND", 10, 0.1,
                           what="the refund on delete")
        a, rows = self.check_consistent(acc)
        self.assertEqual(a["Frozen"], 0)
        self.check_charge_amounts(rows)

    # -- tests ---------------------------------------------------------------------------

    def test_01_accounts_are_the_administrators(self):
        acc, client = self.account("ops")
        err = client.error("CreateAccount", {"AccountName": "mine"})
        self.assertEqual(err["Code"], "UnauthorizedOperation")
        self.assertIn("CreateAccount", err["Message"])
        self.assertEqual(client.error("TopUpAccount", {"AccountId": acc, "Amount": 5})["Code"],
                         "UnauthorizedOperation")
        self.assertEqual(client.error("CreateAccountKey", {"AccountId": acc})["Code"],
                         "UnauthorizedOperation")
        self.assertEqual(client.error("DescribeLedger", {"AccountId": "acc-other"})["Code"],
                         "UnauthorizedOperation")
        self.c.ok("CreateAccount", {"AccountName": "other"})
        mine = client.ok("DescribeAccounts")["AccountSet"]
        self.assertEqual([a["AccountId"] for a in mine], [acc])
        self.assertGreaterEqual(self.c.ok("DescribeAccounts")["TotalCount"], 2)
        self.assertEqual(self.c.error("CreateAccount", {"AccountName": "ops"})["Code"],
                         "InvalidParameterValue.DuplicateName")
        err = self.c.error("CreateAccount", {"AccountName": "bad name"})
        self.assertIn("AccountName", err["Message"])
        err = self.c.error("TopUpAccount", {"AccountId": acc, "Amount": 0})
        self.assertIn("Amount", err["Message"])
        self.assertEqual(self.c.error("TopUpAccount", {"AccountId": "acc-none", "Amount": 1})["Code"],
                         "ResourceNotFound")
        self.assertEqual(self.c.error("CreateAccount", {"AccountName": "x", "Colour": 1})["Code"],
                         "UnknownParameter")

    def test_02_no_balance_no_start(self):
        acc, client = self.account("poor", 100)
        err = client.error("CreateModelService", create_params("poor-1", 1))
        self.assertEqual(err["Code"], "OperationDenied.BalanceInsufficient")
        self.assertIn("100 fen free, less than the 140 fen", err["Message"])
        groups = client.ok("DescribeModelServiceGroups")["ServiceGroups"]
        self.assertNotIn("poor-1", [g["ServiceGroupName"] for g in groups])
        self.assertEqual([r["Kind"] for r in self.ledger(AccountId=acc)], ["TOPUP"])
        self.check_consistent(acc)

    def test_03_freeze_hourly_charges_refund(self):
        acc, client = self.account("ads", 0)
        self.c.ok("TopUpAccount", {"AccountId": acc, "Amount": 5000})
        s = client.ok("CreateModelService", create_params("ads-1", 2, {"team": "ads"}))["Service"]
        sid = s["ServiceId"]
        self.assertEqual(s["BusinessStatus"], "BILLING")
        self.assertEqual(s["BillingInfo"], "模型服务计费中：1.40元/小时")
        rows = self.ledger(AccountId=acc)
        self.assertEqual([(r["Kind"], r["Amount"]) for r in rows], [("TOPUP", 5000), ("FREEZE", 280)])
        self.assertEqual((rows[1]["ServiceId"], rows[1]["Tags"]), (sid, [{"TagKey": "team", "TagValue": "ads"}]))
        a, _ = self.check_consistent(acc)
        self.assertEqual((a["Balance"], a["Frozen"], a["Available"]), (5000, 280, 4720))
        group = client.ok("DescribeModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})["ServiceGroup"]
        self.assertEqual(group["BusinessStatus"], "BILLING")

        # Two instances for two whole billing hours: 2 x 70 each.
        harness.wait_until(lambda: len(self.ledger(ServiceId=sid, Kind="CHARGE")) >= 2, 15, 0.1,
                           what="two hourly charges")
        full = self.ledger(ServiceId=sid, Kind="CHARGE")[:2]
        self.assertEqual([(r["Amount"], r["InstanceMs"]) for r in full], [(140, 4000), (140, 4000)])
        # One instance: 70 an hour once a whole hour has passed at that count.
        client.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 1})
        n = len(self.ledger(ServiceId=sid, Kind="CHARGE"))
        harness.wait_until(lambda: len(self.ledger(ServiceId=sid, Kind="CHARGE")) >= n + 2, 15, 0.1,
                           what="charges after scaling to one")
        last = self.ledger(ServiceId=sid, Kind="CHARGE")[-1]
        self.assertEqual((last["Amount"], last["InstanceMs"]), (70, 2000))
        # The stop charges the part of the hour it ran and refunds the freeze.
        client.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        harness.wait_until(lambda: any(r["Kind"] == "REFUND" for r in self.ledger(ServiceId=sid)), 10,
                           0.1, what="the refund")
        time.sleep(HOUR_S * 1.5)  # nothing more once stopped
        a, rows = self.check_consistent(acc)
        svc_rows = [r for r in rows if r["ServiceId"] == sid]
        self.assertEqual(svc_rows[-1]["Kind"], "REFUND")
        self.assertEqual(svc_rows[-1]["Amount"], 280)
        self.assertEqual(a["Frozen"], 0)
        charges = [r for r in svc_rows if r["Kind"] == "CHARGE"]
        self.assertLessEqual(charges[-1]["InstanceMs"], 2000)
        self.check_charge_amounts(rows)
        self.assertEqual(a["Balance"], 5000 - sum(r["Amount"] for r in charges))
        self.assertEqual(self.service(client, sid)["BusinessStatus"], "CREATE_SUCCEED")
        # Resumed: a new freeze; deleted: the last part and the refund.
        client.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        harness.wait_until(lambda: self.ledger(ServiceId=sid)[-1]["Kind"] == "FREEZE", 10, 0.1,
                           what="a freeze on resume")
        self.assertEqual(self.ledger(ServiceId=sid)[-1]["Amount"], 140)
        self.delete_and_settle(client, s, acc)

    def test_04_arrears_stop_and_resume_after_top_up(self):
        acc, client = self.account("ml", 300)
        s = client.ok("CreateModelService", create_params("ml-1", 1, {"team": "ml"}))["Service"]
        sid = s["ServiceId"]
        # 300 - 70 k must still cover the next hour (70): four hours are charged, then it stops.
        harness.wait_until(lambda: self.service(client, sid)["BusinessStatus"] == "ARREARS_STOP", 30,
                           0.1, what="ARREARS_STOP")
        svc = self.service(client, sid)
        self.assertEqual(svc["ServiceInfo"]["Replicas"], 0)
        self.assertEqual(svc["ServiceInfo"]["OldReplicas"], 1)
        self.assertTrue(svc["BillingInfo"])
        harness.wait_until(lambda: self.service(client, sid)["Status"] == "Stopped", 15, 0.1,
                           what="the instance gone")
        group = client.ok("DescribeModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})["ServiceGroup"]
        self.assertEqual(group["BusinessStatus"], "ARREARS_STOP")
        a, rows = self.check_consistent(acc)
        self.assertEqual([r["Kind"] for r in rows],
                         ["TOPUP", "FREEZE", "CHARGE", "CHARGE", "CHARGE", "CHARGE", "REFUND"])
        self.assertEqual((a["Balance"], a["Frozen"]), (20, 0))
        self.assertEqual(rows[-1]["Note"], "stopped for arrears")
        events = client.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
        stop = [e for e in events if e["Message"].startswith("Stopped for arrears")]
        self.assertEqual(len(stop), 1, events)
        self.assertEqual(stop[0]["Type"], "Warning")
        self.assertIn("20 fen free", stop[0]["Message"])
        # Not before a top-up.
        err = client.error("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        self.assertEqual(err["Code"], "OperationDenied.BalanceInsufficient")
        self.assertIn("20 fen free, less than the 140 fen", err["Message"])
        time.sleep(HOUR_S)
        self.assertEqual(self.service(client, sid)["ServiceInfo"]["Replicas"], 0)
        # A top-up too small to freeze two hours leaves it stopped; enough resumes it.
        r = self.c.ok("TopUpAccount", {"AccountId": acc, "Amount": 100})
        self.assertEqual(r["ResumedServiceIds"], [])
        r = self.c.ok("TopUpAccount", {"AccountId": acc, "Amount": 1000, "Note": "budget"})
        self.assertEqual(r["ResumedServiceIds"], [sid])
        events = client.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
        self.assertIn("Resumed after a top-up of 1000 fen to account %s" % acc,
                      [e["Message"] for e in events])
        svc = self.service(client, sid)
        self.assertEqual((svc["BusinessStatus"], svc["ServiceInfo"]["Replicas"]), ("BILLING", 1))
        harness.wait_until(lambda: self.service(client, sid)["ServiceInfo"]["Status"]["Replicas"] == 1,
                           15, 0.1, what="the instance back")
        harness.wait_until(lambda: len(self.ledger(ServiceId=sid, Kind="CHARGE")) >= 5, 15, 0.1,
                           what="charges after the resume")
        self.delete_and_settle(client, s, acc)

    def test_05_usage_report_adds_up_to_the_ledger(self):
        acc, client = self.account("rep", 10000)
        a = client.ok("CreateModelService", create_params("rep-a", 1, {"team": "ads", "env": "prod"}))["Service"]
        b = client.ok("CreateModelService", create_params("rep-b", 2, {"env": "prod"}))["Service"]
        harness.wait_until(lambda: len(self.ledger(AccountId=acc, Kind="CHARGE")) >= 4, 15, 0.1,
                           what="charges of both")
        for s in (a, b):
            client.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})
        harness.wait_until(lambda: len(self.ledger(AccountId=acc, Kind="REFUND")) == 2, 10, 0.1,
                           what="both refunds")
        month = time.strftime("%Y-%m", time.gmtime())
        g = time.gmtime()
        nxt = "%04d-%02d" % (g.tm_year + (g.tm_mon == 12), g.tm_mon % 12 + 1)
        period = {"StartTime": month + "-01T00:00:00Z", "EndTime": nxt + "-01T00:00:00Z"}
        charges = self.ledger(Kind="CHARGE", **period)
        total = sum(r["Amount"] for r in charges)

        def tag(r, key):
            return next((t["TagValue"] for t in r["Tags"] if t["TagKey"] == key), "")

        by_tag = self.c.ok("DescribeUsageReport", dict(period, GroupBy="tag:team"))
        self.assertEqual(by_tag["TotalAmount"], total)
        self.assertEqual(sum(i["Amount"] for i in by_tag["Items"]), total)
        want = {}
        for r in charges:
            want[tag(r, "team")] = want.get(tag(r, "team"), 0) + r["Amount"]
        self.assertEqual({i["Key"]: i["Amount"] for i in by_tag["Items"]}, want)
        self.assertIn("ads", want)
        by_acc = self.c.ok("DescribeUsageReport", dict(period, GroupBy="account"))
        self.assertEqual(by_acc["TotalAmount"], total)
        mine = {i["Key"]: i["Amount"] for i in by_acc["Items"]}[acc]
        self.assertEqual(mine, sum(r["Amount"] for r in charges if r["AccountId"] == acc))
        by_svc = client.ok("DescribeUsageReport", dict(period, GroupBy="service"))
        self.assertEqual({i["Key"] for i in by_svc["Items"]}, {a["ServiceId"], b["ServiceId"]})
        self.assertEqual(by_svc["TotalAmount"], mine)
        err = self.c.error("DescribeUsageReport", {"GroupBy": "colour"})
        self.assertIn("GroupBy", err["Message"])
        # A period before anything was charged is empty.
        empty = self.c.ok("DescribeUsageReport", {"GroupBy": "account", "StartTime": "2020-01-01T00:00:00Z",
                                                  "EndTime": "2020-02-01T00:00:00Z"})
        self.assertEqual((empty["TotalAmount"], empty["Items"]), (0, []))
        self.check_consistent(acc)

        # berth bill: the same numbers.
        cred = self.d.credentials()
        berth = os.path.join(os.path.dirname(api.berthd_path()), "berth")
        base = [berth, "--endpoint", "http://127.0.0.1:%d" % self.d.port, "--secret-id",
                cred["secretId"], "--secret-key", cred["secretKey"]]
        rc, out = api.run_exit(base + ["--json", "bill", "--by", "tag:team", "--month", month])
        self.assertEqual(rc, 0, out)
        self.assertEqual(json.loads(out)["TotalAmount"], total)
        rc, out = api.run_exit(base + ["bill", "--by", "tag:team", "--month", month])
        self.assertEqual(rc, 0, out)
        self.assertIn("ads", out)
        self.assertIn("%d.%02d" % (want["ads"] // 100, want["ads"] % 100), out)
        rc, out = api.run_exit(base + ["bill", "--by", "account", "--from", period["StartTime"],
                                       "--to", period["EndTime"]])
        self.assertEqual(rc, 0, out)
        self.assertIn(acc, out)
        rc, out = api.run_exit(base + ["bill", "--by", "team"])
        self.assertEqual(rc, 2, out)

    def test_06_berth_account(self):
        cred = self.d.credentials()
        berth = os.path.join(os.path.dirname(api.berthd_path()), "berth")
        base = [berth, "--endpoint", "http://127.0.0.1:%d" % self.d.port, "--secret-id",
                cred["secretId"], "--secret-key", cred["secretKey"]]
        rc, out = api.run_exit(base + ["--json", "account", "create", "cli-team", "--balance", "250"])
        self.assertEqual(rc, 0, out)
        acc = json.loads(out)["Account"]["AccountId"]
        rc, out = api.run_exit(base + ["account", "topup", acc, "1234", "--note", "from the cli"])
        self.assertEqual(rc, 0, out)
        self.assertIn("14.84", out)
        rc, out = api.run_exit(base + ["account", "list"])
        self.assertEqual(rc, 0, out)
        line = next(l for l in out.splitlines() if l.startswith(acc))
        self.assertIn("cli-team", line)
        self.assertIn("consistent", line)
        rc, out = api.run_exit(base + ["account", "ledger", acc])
        self.assertEqual(rc, 0, out)
        self.assertIn("from the cli", out)
        self.assertIn("(2 of 2 rows)", out)
        rc, out = api.run_exit(base + ["--json", "account", "key", acc])
        self.assertEqual(rc, 0, out)
        key = json.loads(out)
        mine = [berth, "--endpoint", "http://127.0.0.1:%d" % self.d.port, "--secret-id",
                key["SecretId"], "--secret-key", key["SecretKey"]]
        rc, out = api.run_exit(mine + ["account", "topup", acc, "5"])
        self.assertEqual(rc, 1, out)
        self.assertIn("UnauthorizedOperation", out)
        rc, out = api.run_exit(base + ["account", "topup", acc, "-5"])
        self.assertEqual(rc, 2, out)
        # A balance changed behind the ledger's back is found.
        db = sqlite3.connect(os.path.join(self.d.data_dir, "berth.db"), timeout=10)
        with db:
            db.execute("UPDATE accounts SET balance = balance + 1 WHERE id = ?", (acc,))
        db.close()
        a = self.c.ok("DescribeAccounts", {"AccountIds": [acc]})["AccountSet"][0]
        self.assertEqual(a["LedgerCheck"], {"Balance": 1484, "Frozen": 0, "Consistent": False})
        self.assertEqual(a["Balance"], 1485)
        rc, out = api.run_exit(base + ["account", "list"])
        self.assertIn("MISMATCH", next(l for l in out.splitlines() if l.startswith(acc)))

    def test_07_hours_missed_while_berthd_was_down_are_charged(self):
        acc, client = self.account("restart", 10000)
        s = client.ok("CreateModelService", create_params("restart-1", 1))["Service"]
        sid = s["ServiceId"]
        self.d.stop()
        time.sleep(HOUR_S * 2.5)
        self.d.start()
        self.c = self.d.client()
        key = self.c.ok("CreateAccountKey", {"AccountId": acc})
        client = api.ApiClient(self.d.port, key["SecretId"], key["SecretKey"])
        harness.wait_until(lambda: len(self.ledger(ServiceId=sid, Kind="CHARGE")) >= 2, 10, 0.1,
                           what="the missed hours charged")
        charges = self.ledger(ServiceId=sid, Kind="CHARGE")
        self.assertEqual([(r["Amount"], r["InstanceMs"]) for r in charges[:2]], [(70, 2000), (70, 2000)])
        # Each dated at the end of its own hour, one billing hour apart.
        self.assertEqual(charges[1]["TimeMs"] - charges[0]["TimeMs"], HOUR_S * 1000)
        self.delete_and_settle(client, s, acc)


if __name__ == "__main__":
    unittest.main()
