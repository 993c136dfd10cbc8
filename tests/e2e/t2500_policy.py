"""Keys with CAM-shaped policies that authorize by tag (docs/policy.md): the administrator makes
a key (CreateAccessKey) and gives it a policy (ModifyAccessKeyPolicy). A key whose policy allows
tione:Describe* on team&ads lists only the groups tagged so (filtered, not refused), describes them
and cannot delete them (UnauthorizedOperation naming the action), nor see whether other groups
exist. An explicit deny wins over an allow; a create must carry allowed tags; the key actions are
the administrator's; policies are checked naming the element and the rule, and survive a restart.
"""

import json
import os
import unittest

import api
import harness

ADS_DESCRIBE = {"version": "2.0", "statement": [{
    "effect": "allow", "action": ["tione:Describe*"], "resource": ["*"],
    "condition": {"for_any_value:string_equal": {"qcs:resource_tag": ["team&ads"]}}}]}

ADS_ALL_BUT_DELETE = {"version": "2.0", "statement": [
    {"effect": "allow", "action": ["tione:*"], "resource": ["*"],
     "condition": {"for_any_value:string_equal": {"qcs:resource_tag": ["team&ads"]}}},
    {"effect": "deny", "action": ["tione:Delete*"], "resource": ["*"]}]}


def tags(team):
    return [{"TagKey": "team", "TagValue": team}] if team else []


class Policy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2500")
        cls.groups = {}
        for name, team in [("ads1", "ads"), ("ads2", "ads"), ("search", "search"), ("plain", None)]:
            s = cls.c.ok("CreateModelService", cls.base(name, Tags=tags(team)))["Service"]
            cls.groups[name] = s["ServiceGroupId"]
        key = cls.c.ok("CreateAccessKey", {"Policy": ADS_DESCRIBE})
        cls.k = api.ApiClient(cls.d.port, key["SecretId"], key["SecretKey"])
        cls.key_id = key["SecretId"]

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    @staticmethod
    def base(name, **kw):
        p = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR",
             "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec sleep 600", "Replicas": 1}
        p.update(kw)
        return p

    def unauthorized(self, client, action, params, *needles):
        err = client.error(action, params)
        self.assertEqual(err["Code"], "UnauthorizedOperation", err)
        self.assertIn("tione:" + action, err["Message"])
        for n in needles:
            self.assertIn(n, err["Message"])
        return err

    def set_policy(self, policy):
        self.c.ok("ModifyAccessKeyPolicy", {"SecretId": self.key_id, "Policy": policy})

    def listed(self, client):
        r = client.ok("DescribeModelServiceGroups", {"Limit": 100})
        return sorted(g["ServiceGroupId"] for g in r["ServiceGroups"]), r

    def test_01_describe_on_team_ads_lists_only_those_groups(self):
        self.set_policy(ADS_DESCRIBE)
        ids, r = self.listed(self.k)
        self.assertEqual(ids, sorted([self.groups["ads1"], self.groups["ads2"]]))
        self.assertEqual((r["TotalCount"], r["GlobalTotalCount"]), (2, 2))
        # the administrator sees everything
        all_ids, _ = self.listed(self.c)
        self.assertEqual(all_ids, sorted(self.groups.values()))
        g = self.k.ok("DescribeModelServiceGroup", {"ServiceGroupId": self.groups["ads1"]})
        self.assertEqual(g["ServiceGroup"]["Tags"], tags("ads"))
        self.k.ok("DescribeModelService", {"ServiceId": self.groups["ads2"] + "-1"})
        self.k.ok("DescribeEvents", {"Service": "INFER", "ServiceId": self.groups["ads1"]})

    def test_02_it_cannot_delete_nor_touch_other_groups(self):
        self.set_policy(ADS_DESCRIBE)
        self.unauthorized(self.k, "DeleteModelServiceGroup", {"ServiceGroupId": self.groups["ads1"]},
                          "service-group/" + self.groups["ads1"], "no statement")
        self.unauthorized(self.k, "DeleteModelService", {"ServiceId": self.groups["ads1"] + "-1"})
        self.unauthorized(self.k, "ModifyModelService",
                          {"ServiceId": self.groups["ads1"] + "-1", "ServiceAction": "STOP"})
        self.unauthorized(self.k, "DescribeModelServiceGroup", {"ServiceGroupId": self.groups["search"]})
        self.unauthorized(self.k, "DescribeModelService", {"ServiceId": self.groups["plain"] + "-1"})
        # a group that does not exist reads as one it may not see: no existence leaks
        self.unauthorized(self.k, "DescribeModelServiceGroup", {"ServiceGroupId": "ms-nosuch00"})
        self.unauthorized(self.k, "DescribeEvents", {"Service": "INFER"}, "give ServiceId")
        self.unauthorized(self.k, "CreateModelService", self.base("mine", Tags=tags("ads")))
        # the groups are all still there
        ids, _ = self.listed(self.c)
        self.assertEqual(ids, sorted(self.groups.values()))
        # the key actions are the administrator's
        self.unauthorized(self.k, "CreateAccessKey", {}, "administrator")
        self.unauthorized(self.k, "ModifyAccessKeyPolicy", {"SecretId": self.key_id, "Policy": None},
                          "administrator")

    def test_03_an_explicit_deny_wins(self):
        self.set_policy(ADS_ALL_BUT_DELETE)
        sid = self.groups["ads1"] + "-1"
        self.unauthorized(self.k, "DeleteModelServiceGroup", {"ServiceGroupId": self.groups["ads1"]},
                          "statement[1]", "denies")
        self.unauthorized(self.k, "DeleteModelService", {"ServiceId": sid}, "statement[1]")
        # what the allow gives and the deny does not take works
        svc = self.k.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})["Service"]
        self.assertEqual(svc["ServiceInfo"]["Replicas"], 0)
        self.unauthorized(self.k, "ModifyModelService",
                          {"ServiceId": self.groups["search"] + "-1", "ServiceAction": "STOP"})
        # a create must carry the allowed tags
        made = self.k.ok("CreateModelService", self.base("mine", Tags=tags("ads")))["Service"]
        self.unauthorized(self.k, "CreateModelService", self.base("theirs", Tags=tags("search")))
        self.unauthorized(self.k, "CreateModelService", self.base("untagged"))
        self.unauthorized(self.k, "CreateModelService",
                          self.base("v2", ServiceGroupId=self.groups["search"], NewVersion=True))
        ids, _ = self.listed(self.k)
        self.assertEqual(ids, sorted([self.groups["ads1"], self.groups["ads2"], made["ServiceGroupId"]]))
        # without the deny, the delete goes through
        self.set_policy({"version": "2.0", "statement": ADS_ALL_BUT_DELETE["statement"][:1]})
        self.k.ok("DeleteModelServiceGroup", {"ServiceGroupId": made["ServiceGroupId"]})

    def test_04_policies_are_checked(self):
        bad = [
            ({"statement": []}, "version"),
            ({"version": "2.0", "statement": [{"effect": "permit", "action": "*", "resource": "*"}]},
             "statement[0].effect"),
            ({"version": "2.0", "statement": [{"effect": "allow", "action": ["cvm:RunInstances"],
                                               "resource": "*"}]}, "statement[0].action[0]"),
            ({"version": "2.0", "statement": [{"effect": "allow", "action": "*"}]},
             "statement[0].resource is required"),
            ({"version": "2.0", "statement": [{"effect": "allow", "action": "*", "resource": "*",
                                               "condition": {"ip_equal": {"qcs:ip": ["127.0.0.1"]}}}]},
             "statement[0].condition.ip_equal"),
            ("{not json", "not valid JSON"),
        ]
        for policy, needle in bad:
            err = self.c.error("ModifyAccessKeyPolicy", {"SecretId": self.key_id, "Policy": policy})
            self.assertEqual(err["Code"], "InvalidParameterValue", err)
            self.assertIn("Policy: ", err["Message"])
            self.assertIn(needle, err["Message"])
        admin = self.d.credentials()["secretId"]
        err = self.c.error("ModifyAccessKeyPolicy", {"SecretId": admin, "Policy": ADS_DESCRIBE})
        self.assertEqual(err["Code"], "InvalidParameterValue")
        self.assertIn("administrator", err["Message"])
        err = self.c.error("ModifyAccessKeyPolicy", {"SecretId": "AKIDnosuch", "Policy": ADS_DESCRIBE})
        self.assertEqual(err["Code"], "ResourceNotFound")
        err = self.c.error("ModifyAccessKeyPolicy", {"SecretId": self.key_id})
        self.assertEqual(err["Code"], "MissingParameter")
        # a policy given as a string is the same policy
        r = self.c.ok("ModifyAccessKeyPolicy", {"SecretId": self.key_id, "Policy": json.dumps(ADS_DESCRIBE)})
        self.assertEqual(json.loads(r["Policy"]), ADS_DESCRIBE)

    def test_05_an_empty_policy_denies_and_no_policy_allows(self):
        self.set_policy({"version": "2.0", "statement": []})
        self.unauthorized(self.k, "DescribeModelServiceGroups", {})
        self.set_policy(None)
        ids, _ = self.listed(self.k)
        self.assertEqual(ids, sorted(self.groups.values()))
        # a key without a policy is still not an administrator
        self.unauthorized(self.k, "CreateAccessKey", {})

    def test_06_models_are_filtered_and_refused_by_their_tags(self):
        booster = harness.train("binary:logistic", n_features=3, n=100, rounds=2)
        made = {}
        for name, team in [("m-ads", "ads"), ("m-search", "search")]:
            src = os.path.join(self.tmp, name)
            os.makedirs(src)
            harness.save_model(booster, os.path.join(src, "model.json"), "json")
            r = self.c.ok("CreateTrainingModel", {
                "ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": name,
                "ModelFormat": "XGBOOST", "TrainingModelCosPath": {"Paths": [src]}, "Tags": tags(team)})
            made[team] = r
        self.set_policy(ADS_DESCRIBE)
        listed = self.k.ok("DescribeTrainingModels", {})
        self.assertEqual([m["TrainingModelId"] for m in listed["TrainingModels"]], [made["ads"]["Id"]])
        self.assertEqual(listed["TotalCount"], 1)
        self.assertEqual(self.c.ok("DescribeTrainingModels", {})["TotalCount"], 2)
        self.k.ok("DescribeTrainingModelVersions", {"TrainingModelId": made["ads"]["Id"]})
        self.unauthorized(self.k, "DescribeTrainingModelVersions", {"TrainingModelId": made["search"]["Id"]},
                          "model/" + made["search"]["Id"])
        self.unauthorized(self.k, "DescribeTrainingModelVersion",
                          {"TrainingModelVersionId": made["search"]["TrainingModelVersionId"]})
        self.unauthorized(self.k, "DeleteTrainingModel", {"TrainingModelId": made["ads"]["Id"]})

    def test_07_the_policy_survives_a_restart(self):
        self.set_policy(ADS_DESCRIBE)
        self.d.stop()
        self.d.start()
        self.k.port = self.c.port = self.d.port
        ids, _ = self.listed(self.k)
        self.assertEqual(ids, sorted([self.groups["ads1"], self.groups["ads2"]]))
        self.unauthorized(self.k, "DeleteModelServiceGroup", {"ServiceGroupId": self.groups["ads2"]})


if __name__ == "__main__":
    unittest.main()
