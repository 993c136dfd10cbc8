"""Call authentication in the management API (issue 8): AuthorizationEnable at creation and by
ModifyModelServiceAuthorization, the token actions, where tokens and the key pair show, and how
they are kept: sealed in the store, with the key outside it."""

import os
import sqlite3
import unittest

import api


class AuthApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1800")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def create(self, name, **kw):
        p = {"ServiceGroupName": name, "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec sleep 600",
             "Replicas": 1}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]["ServiceGroupId"]

    def group(self, gid):
        return self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": gid})["ServiceGroup"]

    def call_info(self, gid):
        return self.c.ok("DescribeModelServiceCallInfo", {"ServiceGroupId": gid})

    def tokens(self, gid):
        return self.group(gid)["AuthTokens"]

    def refused(self, action, params, code, *needles):
        err = self.c.error(action, params)
        self.assertEqual(err["Code"], code, (params, err))
        for n in needles:
            self.assertIn(n, err["Message"], (params, err))

    def test_create_with_auth_makes_a_default_token(self):
        gid = self.create("auth-on", AuthorizationEnable=True)
        g = self.group(gid)
        self.assertTrue(g["AuthorizationEnable"])
        self.assertEqual(len(g["AuthTokens"]), 1, g["AuthTokens"])
        t = g["AuthTokens"][0]
        self.assertEqual(set(t), {"Base", "Limits"})
        self.assertEqual(set(t["Base"]), {"Value", "Name", "Description", "CreateTime", "Status", "Id"})
        self.assertEqual(t["Base"]["Status"], "Enabled")
        self.assertEqual(t["Base"]["Name"], "default")
        self.assertRegex(t["Base"]["Value"], r"^[A-Za-z0-9]{32}$")
        self.assertRegex(t["Base"]["Id"], r"^[0-9a-f]{32}$")
        self.assertEqual(t["Limits"], [])
        v2 = self.call_info(gid)["ServiceCallInfoV2"]
        self.assertTrue(v2["AuthorizationEnable"])
        self.assertEqual(v2["AuthToken"], t["Base"]["Value"])
        self.assertEqual(v2["AuthTokens"], g["AuthTokens"])
        legacy = self.call_info(gid)["ServiceCallInfo"]
        self.assertRegex(legacy["AppKey"], r"^APID[A-Za-z0-9]{36}$")
        self.assertRegex(legacy["AppSecret"], r"^[A-Za-z0-9]{40}$")
        # the same pair on every read
        self.assertEqual(self.call_info(gid)["ServiceCallInfo"]["AppSecret"], legacy["AppSecret"])

    def test_auth_off_by_default_and_switched(self):
        gid = self.create("auth-switch")
        self.assertFalse(self.group(gid)["AuthorizationEnable"])
        self.assertEqual(self.tokens(gid), [])
        self.assertEqual(self.call_info(gid)["ServiceCallInfoV2"]["AuthToken"], "")
        self.c.ok("ModifyModelServiceAuthorization", {"ServiceGroupId": gid, "AuthorizationEnable": True})
        toks = self.tokens(gid)
        self.assertEqual(len(toks), 1)
        self.assertEqual(self.call_info(gid)["ServiceCallInfoV2"]["AuthToken"], toks[0]["Base"]["Value"])
        # off and on again keeps the token: no second default
        self.c.ok("ModifyModelServiceAuthorization", {"ServiceGroupId": gid, "AuthorizationEnable": False})
        self.assertFalse(self.group(gid)["AuthorizationEnable"])
        self.assertEqual(self.call_info(gid)["ServiceCallInfoV2"]["AuthToken"], "")
        self.c.ok("ModifyModelServiceAuthorization", {"ServiceGroupId": gid, "AuthorizationEnable": True})
        self.assertEqual(self.tokens(gid), toks)
        self.refused("ModifyModelServiceAuthorization", {"ServiceGroupId": "ms-nothere1",
                                                         "AuthorizationEnable": True}, "ResourceNotFound")
        self.refused("ModifyModelServiceAuthorization", {"ServiceGroupId": gid, "AuthorizationEnable": "yes"},
                     "InvalidParameter", "AuthorizationEnable")

    def test_new_version_cannot_turn_auth_on(self):
        gid = self.create("auth-version")
        self.refused("CreateModelService", {"ServiceGroupId": gid, "NewVersion": True, "InstanceType":
                                            "TI.S.MEDIUM.POST", "Command": "exec sleep 600",
                                            "AuthorizationEnable": True},
                     "InvalidParameterValue", "ModifyModelServiceAuthorization")

    def test_token_lifecycle(self):
        gid = self.create("tokens", AuthorizationEnable=True)
        self.c.ok("CreateModelServiceAuthToken", {"ServiceGroupId": gid, "Name": "ci", "Description": "for CI"})
        toks = self.tokens(gid)
        self.assertEqual([t["Base"]["Name"] for t in toks], ["default", "ci"])
        ci = toks[1]
        self.assertEqual(ci["Base"]["Description"], "for CI")
        self.assertNotEqual(ci["Base"]["Value"], toks[0]["Base"]["Value"])

        # modify: name, description, limits; the value and id stay
        mod = {"Base": dict(ci["Base"], Name="ci-2", Description="d2"),
               "Limits": [{"Strategy": "PerMinute", "Max": 600}, {"Strategy": "PerDay", "Max": 100000}]}
        self.c.ok("ModifyModelServiceAuthToken", {"ServiceGroupId": gid, "NeedReset": False, "AuthToken": mod})
        after = self.tokens(gid)[1]
        self.assertEqual(after["Base"]["Name"], "ci-2")
        self.assertEqual(after["Base"]["Description"], "d2")
        self.assertEqual(after["Base"]["Value"], ci["Base"]["Value"])
        self.assertEqual(after["Base"]["Id"], ci["Base"]["Id"])
        self.assertEqual(after["Limits"], mod["Limits"])
        # given only the value, the rest stays
        self.c.ok("ModifyModelServiceAuthToken", {"ServiceGroupId": gid,
                                                  "AuthToken": {"Base": {"Value": ci["Base"]["Value"]}}})
        self.assertEqual(self.tokens(gid)[1], after)

        # reset: a new value and a new id; the old value no longer names it
        self.c.ok("ModifyModelServiceAuthToken", {"ServiceGroupId": gid, "NeedReset": True,
                                                  "AuthToken": {"Base": {"Value": ci["Base"]["Value"]}}})
        reset = self.tokens(gid)[1]
        self.assertNotEqual(reset["Base"]["Value"], ci["Base"]["Value"])
        self.assertNotEqual(reset["Base"]["Id"], ci["Base"]["Id"])
        self.assertEqual(reset["Base"]["Name"], "ci-2")
        self.assertEqual(reset["Limits"], mod["Limits"])
        self.refused("ModifyModelServiceAuthToken", {"ServiceGroupId": gid,
                                                     "AuthToken": {"Base": {"Value": ci["Base"]["Value"]}}},
                     "ResourceNotFound")

        # delete by value
        self.c.ok("DeleteModelServiceAuthToken", {"ServiceGroupId": gid, "AuthTokenValue": reset["Base"]["Value"]})
        self.assertEqual([t["Base"]["Name"] for t in self.tokens(gid)], ["default"])
        self.refused("DeleteModelServiceAuthToken", {"ServiceGroupId": gid, "AuthTokenValue": reset["Base"]["Value"]},
                     "ResourceNotFound")

    def test_a_token_of_another_group_is_not_found(self):
        a = self.create("own-a", AuthorizationEnable=True)
        b = self.create("own-b", AuthorizationEnable=True)
        ta = self.tokens(a)[0]["Base"]["Value"]
        self.refused("DeleteModelServiceAuthToken", {"ServiceGroupId": b, "AuthTokenValue": ta}, "ResourceNotFound")
        self.refused("ModifyModelServiceAuthToken", {"ServiceGroupId": b, "AuthToken": {"Base": {"Value": ta}}},
                     "ResourceNotFound")
        self.assertEqual(len(self.tokens(a)), 1)

    def test_bad_token_fields(self):
        gid = self.create("bad-tokens", AuthorizationEnable=True)
        v = self.tokens(gid)[0]["Base"]["Value"]

        def mod(token, code, *needles):
            self.refused("ModifyModelServiceAuthToken", {"ServiceGroupId": gid, "AuthToken": token}, code, *needles)
        mod({"Base": {"Value": v}, "Limits": [{"Strategy": "PerHour", "Max": 5}]}, "InvalidParameterValue",
            "AuthToken.Limits[0].Strategy", "PerMinute or PerDay")
        mod({"Base": {"Value": v}, "Limits": [{"Strategy": "PerDay", "Max": 0}]}, "InvalidParameterValue",
            "AuthToken.Limits[0].Max")
        mod({"Base": {"Value": v}, "Limits": [{"Strategy": "PerDay", "Max": 5}, {"Strategy": "PerDay", "Max": 6}]},
            "InvalidParameterValue", "AuthToken.Limits[1].Strategy", "twice")
        mod({"Base": {"Value": v}, "Limits": [{"Strategy": "PerDay", "Max": 5, "Burst": 1}]}, "UnknownParameter",
            "Burst")
        mod({"Base": {"Value": v}, "Limits": {"Strategy": "PerDay"}}, "InvalidParameter", "AuthToken.Limits")
        mod({"Base": {"Value": v, "Status": "Disabled"}}, "InvalidParameterValue", "Status")
        mod({"Base": {"Name": "x"}}, "MissingParameter", "AuthToken.Base.Value")
        mod({"Base": {"Value": v, "Name": "n" * 61}}, "InvalidParameterValue", "AuthToken.Base.Name")
        self.refused("CreateModelServiceAuthToken", {"ServiceGroupId": gid, "Description": "d" * 201},
                     "InvalidParameterValue", "Description")
        self.refused("CreateModelServiceAuthToken", {"ServiceGroupId": gid, "Scope": "x"}, "UnknownParameter",
                     "Scope")
        self.refused("CreateModelServiceAuthToken", {"ServiceGroupId": "ms-nothere1"}, "ResourceNotFound")

    def test_tokens_per_group_are_capped(self):
        gid = self.create("many-tokens")
        for i in range(100):
            self.c.ok("CreateModelServiceAuthToken", {"ServiceGroupId": gid, "Name": "t%d" % i})
        self.refused("CreateModelServiceAuthToken", {"ServiceGroupId": gid}, "LimitExceeded", "100")

    def test_secrets_are_sealed_in_the_store(self):
        gid = self.create("sealed", AuthorizationEnable=True)
        token = self.tokens(gid)[0]["Base"]["Value"]
        secret = self.call_info(gid)["ServiceCallInfo"]["AppSecret"]
        key = os.path.join(self.d.data_dir, "secret.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.d.data_dir, "berth.db"), uri=True)
        try:
            dump = "\n".join(db.iterdump())
        finally:
            db.close()
        self.assertNotIn(token, dump)
        self.assertNotIn(secret, dump)
        self.assertIn(gid, dump)

    def test_a_group_from_before_key_pairs_gets_one(self):
        gid = self.create("old-group")
        db = sqlite3.connect(os.path.join(self.d.data_dir, "berth.db"), timeout=10)
        try:
            db.execute("UPDATE service_groups SET app_key = '', app_secret = '' WHERE id = ?", (gid,))
            db.commit()
        finally:
            db.close()
        first = self.call_info(gid)["ServiceCallInfo"]
        self.assertRegex(first["AppKey"], r"^APID[A-Za-z0-9]{36}$")
        self.assertRegex(first["AppSecret"], r"^[A-Za-z0-9]{40}$")
        again = self.call_info(gid)["ServiceCallInfo"]
        self.assertEqual((again["AppKey"], again["AppSecret"]), (first["AppKey"], first["AppSecret"]))
