"""Prepaid resource groups (docs/billing.md): berthd's --resource-group defines a pool of two
4-core 8 GiB nodes behind DescribeBillingResourceGroups and DescribeBillingResourceGroup; a
PREPAID version takes Resources x Replicas from it, charged nothing; one that does not fit is
refused with the numbers, and so are a RESUME and a SCALE that no longer fit; stopping frees the
capacity. A HYBRID_PAID version runs HybridBillingPrepaidReplicas instances from the group beside
its postpaid Replicas, which are billed; when CRON takes the postpaid part to 0, the prepaid
instance keeps running and the charges stop."""

import time
import unittest

import api
import harness

HOUR_S = 2
GROUP = "rsg-pool"


def prepaid(name, cpu, memory, replicas, **kw):
    p = {"ServiceGroupName": name, "ChargeType": "PREPAID", "ResourceGroupId": GROUP,
         "Resources": {"Cpu": cpu, "Memory": memory}, "Command": "exec sleep 600", "Replicas": replicas}
    p.update(kw)
    return p


class Prepaid(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2410", extra=[
            "--billing-hour-s", str(HOUR_S), "--time-zone", "UTC",
            "--resource-group", GROUP + " name=pool nodes=1 cpu=4 memory=8192",
            "--resource-group", GROUP + " nodes=1 cpu=4 memory=8192"])
        a = cls.c.ok("CreateAccount", {"AccountName": "team"})["Account"]
        cls.acc = a["AccountId"]
        key = cls.c.ok("CreateAccountKey", {"AccountId": cls.acc})
        cls.k = api.ApiClient(cls.d.port, key["SecretId"], key["SecretKey"])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def group(self):
        r = self.c.ok("DescribeBillingResourceGroups", {})
        self.assertEqual(r["TotalCount"], 1)
        return r["ResourceGroupSet"][0]

    def service(self, sid):
        return self.k.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def ledger(self, **q):
        return self.c.ok("DescribeLedger", dict(q, Limit=1000))["LedgerSet"]

    def test_01_groups_are_described(self):
        g = self.group()
        self.assertEqual((g["ResourceGroupId"], g["ResourceGroupName"], g["TotalInstance"], g["FreeInstance"]),
                         (GROUP, "pool", 2, 2))
        self.assertEqual(g["TotalResource"], {"Cpu": 8000, "Memory": 16384, "Gpu": 0, "GpuDetailSet": []})
        self.assertEqual(g["UsedResource"]["Cpu"], 0)
        self.assertEqual(len(g["InstanceSet"]), 2)
        self.assertEqual(g["InstanceSet"][0]["TotalResource"], {"Cpu": 4000, "Memory": 8192, "Gpu": 0})
        r = self.c.ok("DescribeBillingResourceGroups", {"DontShowInstanceSet": True})
        self.assertEqual(r["ResourceGroupSet"][0]["InstanceSet"], [])
        r = self.c.ok("DescribeBillingResourceGroups",
                      {"Filters": [{"Name": "ResourceGroupName", "Values": ["nope"]}]})
        self.assertEqual((r["TotalCount"], r["ResourceGroupSet"]), (0, []))
        r = self.c.ok("DescribeBillingResourceGroup", {"ResourceGroupId": GROUP, "Order": "ASC"})
        self.assertEqual(r["TotalCount"], 2)
        self.assertEqual([n["InstanceId"] for n in r["InstanceSet"]], [GROUP + "-node-1", GROUP + "-node-2"])
        self.assertEqual(r["InstanceSet"][0]["InstanceStatus"], "RUNNING")
        self.assertEqual(self.c.error("DescribeBillingResourceGroup", {"ResourceGroupId": "rsg-none"})["Code"],
                         "ResourceNotFound")

    def test_02_prepaid_fits_or_is_refused_with_the_numbers(self):
        bad = [
            ({"ResourceGroupId": None}, "MissingParameter", "ResourceGroupId"),
            ({"ResourceGroupId": "rsg-none"}, "ResourceNotFound", "rsg-none"),
            ({"Resources": None}, "MissingParameter", "Resources"),
            ({"Resources": {"Cpu": 1000}}, "MissingParameter", "Resources.Memory"),
            ({"InstanceType": "TI.S.MEDIUM.POST"}, "InvalidParameterValue", "InstanceType"),
            ({"HybridBillingPrepaidReplicas": 1}, "InvalidParameterValue", "HybridBillingPrepaidReplicas"),
            ({"ScaleMode": "AUTO", "ScaleStrategy": "CRON",
              "CronScaleJobs": [{"Schedule": "0 3 * * *", "TargetReplicas": 2}]}, "UnsupportedOperation", "AUTO"),
        ]
        for change, code, needle in bad:
            p = prepaid("pp-bad", 1000, 1024, 1)
            p.update(change)
            p = {k: v for k, v in p.items() if v is not None}
            err = self.k.error("CreateModelService", p)
            self.assertEqual(err["Code"], code, (change, err))
            self.assertIn(needle, err["Message"], (change, err))
        # The account has no balance: prepaid capacity costs nothing.
        a = self.k.ok("CreateModelService", prepaid("pp-a", 3000, 2048, 2))["Service"]
        self.assertEqual((a["ChargeType"], a["ResourceGroupId"], a["ResourceGroupName"]), ("PREPAID", GROUP, "pool"))
        self.assertEqual(a["ServiceInfo"]["Resources"], {"Cpu": 3000, "Memory": 2048, "Gpu": 0})
        self.assertEqual(a["ServiceInfo"]["ResourceTotal"], {"Cpu": 6000, "Memory": 4096, "Gpu": 0})
        g = self.group()
        self.assertEqual((g["UsedResource"]["Cpu"], g["UsedResource"]["Memory"]), (6000, 4096))
        self.assertEqual([n["UsedResource"]["Cpu"] for n in g["InstanceSet"]], [3000, 3000])
        # 2000 free in all, but no node has 2000: refused, naming the numbers.
        err = self.k.error("CreateModelService", prepaid("pp-b", 2000, 1024, 1))
        self.assertEqual(err["Code"], "ResourceInsufficient")
        self.assertIn("cannot hold 1 instance of Cpu 2000, Memory 1024 MB", err["Message"])
        self.assertIn("Cpu 2000, Memory 12288 MB, Gpu 0 free on 2 nodes", err["Message"])
        self.assertIn("at most Cpu 1000, Memory 6144 MB", err["Message"])
        groups = self.k.ok("DescribeModelServiceGroups")["ServiceGroups"]
        self.assertNotIn("pp-b", [x["ServiceGroupName"] for x in groups])
        harness.wait_until(lambda: self.service(a["ServiceId"])["ServiceInfo"]["Status"]["Replicas"] == 2, 15,
                           0.1, what="two prepaid instances")
        self.assertEqual(self.service(a["ServiceId"])["BusinessStatus"], "CREATE_SUCCEED")
        self.assertEqual(self.ledger(AccountId=self.acc), [])
        # SCALE past the group: refused. Stop: freed, and the other fits.
        err = self.k.error("ModifyModelService", {"ServiceId": a["ServiceId"], "ServiceAction": "SCALE",
                                                  "Replicas": 3})
        self.assertEqual(err["Code"], "ResourceInsufficient")
        err = self.k.error("ModifyModelService", {"ServiceId": a["ServiceId"], "Replicas": 3})
        self.assertEqual(err["Code"], "ResourceInsufficient")
        self.k.ok("ModifyModelService", {"ServiceId": a["ServiceId"], "ServiceAction": "STOP"})
        self.assertEqual(self.group()["UsedResource"]["Cpu"], 0)
        b = self.k.ok("CreateModelService", prepaid("pp-b", 2000, 1024, 1))["Service"]
        # a needs 3000 on each node; node 1 has 2000 left now: its RESUME does not fit.
        err = self.k.error("ModifyModelService", {"ServiceId": a["ServiceId"], "ServiceAction": "RESUME"})
        self.assertEqual(err["Code"], "ResourceInsufficient")
        self.assertIn("1 do not fit", err["Message"])
        self.k.ok("DeleteModelServiceGroup", {"ServiceGroupId": b["ServiceGroupId"]})
        self.k.ok("ModifyModelService", {"ServiceId": a["ServiceId"], "ServiceAction": "RESUME"})
        self.assertEqual(self.group()["UsedResource"]["Cpu"], 6000)
        self.k.ok("DeleteModelServiceGroup", {"ServiceGroupId": a["ServiceGroupId"]})
        self.assertEqual(self.group()["UsedResource"]["Cpu"], 0)
        self.assertEqual(self.ledger(AccountId=self.acc), [])

    def test_03_hybrid_keeps_prepaid_while_postpaid_goes_to_zero(self):
        self.c.ok("TopUpAccount", {"AccountId": self.acc, "Amount": 100000})
        p = {"ServiceGroupName": "hy", "ChargeType": "HYBRID_PAID", "ResourceGroupId": GROUP,
             "InstanceType": "TI.S.MEDIUM.POST", "HybridBillingPrepaidReplicas": 1, "Replicas": 2,
             "Command": "exec sleep 600", "Tags": [{"TagKey": "team", "TagValue": "hy"}]}
        err = self.k.error("CreateModelService", dict(p, Resources={"Cpu": 1000, "Memory": 512}))
        self.assertIn("Resources", err["Message"])
        err = self.k.error("CreateModelService", dict(p, HybridBillingPrepaidReplicas=5))
        self.assertEqual(err["Code"], "ResourceInsufficient")
        s = self.k.ok("CreateModelService", p)["Service"]
        sid = s["ServiceId"]
        info = s["ServiceInfo"]
        self.assertEqual((s["ChargeType"], info["Replicas"], info["HybridBillingPrepaidReplicas"]),
                         ("HYBRID_PAID", 2, 1))
        self.assertEqual(s["BusinessStatus"], "BILLING")
        # Postpaid: 2 x 70 frozen for two hours; prepaid: 2 cores, 4 GiB of the group.
        self.assertEqual([(r["Kind"], r["Amount"]) for r in self.ledger(ServiceId=sid)], [("FREEZE", 280)])
        self.assertEqual(self.group()["UsedResource"]["Cpu"], 2000)
        harness.wait_until(lambda: self.service(sid)["ServiceInfo"]["Status"]["Replicas"] == 3, 20, 0.1,
                           what="three instances")
        harness.wait_until(lambda: len(self.ledger(ServiceId=sid, Kind="CHARGE")) >= 1, 15, 0.1,
                           what="a charge")
        first = self.ledger(ServiceId=sid, Kind="CHARGE")[0]
        self.assertEqual((first["Amount"], first["InstanceMs"]), (140, 4000))  # only the postpaid two
        # CRON with Replicas 0 outside its window (03:00 UTC): the postpaid part goes to 0.
        self.k.ok("ModifyModelService", {"ServiceId": sid, "ScaleMode": "AUTO", "ScaleStrategy": "CRON",
                                         "Replicas": 0,
                                         "CronScaleJobs": [{"Schedule": "0 3 * * *", "TargetReplicas": 2}]})
        harness.wait_until(lambda: self.service(sid)["ServiceInfo"]["Replicas"] == 0, 10, 0.1,
                           what="postpaid at 0")
        harness.wait_until(lambda: self.service(sid)["ServiceInfo"]["Status"]["Replicas"] == 1, 20, 0.1,
                           what="the prepaid instance alone")
        svc = self.service(sid)
        self.assertEqual(svc["ServiceInfo"]["HybridBillingPrepaidReplicas"], 1)
        self.assertEqual(len(svc["ServiceInfo"]["PodInfos"]), 1)
        self.assertEqual(self.group()["UsedResource"]["Cpu"], 2000)
        time.sleep(HOUR_S * 1.3)  # the part of an hour at 2 is charged at the next boundary
        n = len(self.ledger(ServiceId=sid, Kind="CHARGE"))
        time.sleep(HOUR_S * 2.5)
        self.assertEqual(len(self.ledger(ServiceId=sid, Kind="CHARGE")), n, "charged with no postpaid instance")
        self.assertEqual(self.service(sid)["ServiceInfo"]["Status"]["Replicas"], 1)
        # Stopped: everything goes, the freeze comes back, the group is free.
        self.k.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        harness.wait_until(lambda: self.ledger(ServiceId=sid)[-1]["Kind"] == "REFUND", 10, 0.1,
                           what="the refund")
        self.assertEqual(self.group()["UsedResource"]["Cpu"], 0)
        harness.wait_until(lambda: self.service(sid)["Status"] == "Stopped", 15, 0.1, what="stopped")
        a = self.c.ok("DescribeAccounts", {"AccountIds": [self.acc]})["AccountSet"][0]
        self.assertTrue(a["LedgerCheck"]["Consistent"])
        self.assertEqual(a["Frozen"], 0)
        self.k.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})


if __name__ == "__main__":
    unittest.main()
