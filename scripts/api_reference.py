#!/usr/bin/python3
"""api_reference.py - write docs/api-reference.md from the code's own tables, so that it cannot
drift: the actions berthd dispatches (src/api/api.c), and for each the fields it checks with
api_check_fields()/api_check_object(), found by following the handler's calls through
src/api/*.c, with what Berth does with each (used, accepted and ignored, refused), the note on
the table row, and the handler's comment.

    /usr/bin/python3 scripts/api_reference.py [--check]    (make api-reference)

--check writes nothing and exits 1 when docs/api-reference.md is not what the code says (the
tests run it). Actions TI-ONE's API does not define are marked as Berth extensions.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "api-reference.md")

KINDS = {"USED": "used", "IGNORED": "accepted, ignored (cloud-only)",
         "UNSUPPORTED": "refused: UnsupportedOperation"}


def strip_strings_and_comments(text):
    """The text with comments blanked (strings kept), same length, for finding calls."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


def split_args(s):
    """Top-level comma-separated arguments of a call's argument text."""
    args, depth, cur, q = [], 0, "", None
    for ch in s:
        if q:
            cur += ch
            if ch == q and not cur.endswith("\\" + q):
                q = None
            continue
        if ch in "\"'":
            q = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        args.append(cur.strip())
    return args


def call_args(body, start):
    """The argument text of the call whose '(' is at body[start]."""
    depth = 0
    for i in range(start, len(body)):
        if body[i] == "(":
            depth += 1
        elif body[i] == ")":
            depth -= 1
            if depth == 0:
                return body[start + 1:i]
    return ""


class Source:
    def __init__(self):
        self.functions = {}  # name -> (params, body, comment, file)
        self.tables = {}     # (file, function or None, name) -> [(field, kind, note)]
        self.defines = {}
        for path in sorted(glob.glob(os.path.join(ROOT, "src", "api", "*.c"))):
            self.read(path)

    def read(self, path):
        text = open(path).read()
        name = os.path.relpath(path, ROOT)
        for m in re.finditer(r'(?m)^#define (\w+) ("[^"]*")', text):
            self.defines[m.group(1)] = m.group(2)[1:-1]
        fn_re = r"(?ms)((?:^/\*(?:(?!\*/).)*\*/\n)?)^(?:static )?[a-z_][\w ]*?\**\b(\w+)\(((?:[^()]|\([^()]*\))*)\)\n\{\n(.*?)^\}"
        for m in re.finditer(fn_re, text):
            comment, fn, params, body = m.groups()
            pnames = []
            for p in split_args(" ".join(params.split())):
                m2 = re.search(r"(\w+)\s*(?:\[\w*\])?$", p) or re.search(r"\(\*(\w+)\)", p)
                pnames.append(m2.group(1) if m2 else "")
            self.functions[fn] = (pnames, body, comment, name)
            self.read_tables(body, name, fn)
        self.read_tables(re.sub(r"(?ms)^\{\n.*?^\}", "", text), name, None)

    def read_tables(self, text, file, fn):
        for m in re.finditer(r"const struct api_field (\w+)\[\] = \{(.*?)\};", text, re.S):
            rows = []
            # A row names its field with a string, or with a variable the caller binds.
            for r in re.finditer(r'\{("\w+"|[a-z_]\w*), API_FIELD_(\w+)\},?[ \t]*(?:/\*(.*?)\*/)?', m.group(2), re.S):
                rows.append((r.group(1), r.group(2), " ".join((r.group(3) or "").split())))
            self.tables[(file, fn, m.group(1))] = rows

    def table(self, file, fn, name):
        return self.tables.get((file, fn, name)) or self.tables.get((file, None, name))

    def literal(self, expr, env, body):
        """What a 'where' argument names: "" for NULL, a string, a macro, a parameter bound by a
        caller, a local set by snprintf ("Env[%zu]" -> "Env[]") or a const."""
        expr = expr.strip()
        if expr == "NULL":
            return ""
        if expr.startswith('"'):
            return re.sub(r"%\w*[a-z]", "", expr.strip('"'))
        if expr in self.defines:
            return self.defines[expr]
        if expr in env and env[expr] is not None:
            return env[expr]
        m = re.search(r"snprintf\(%s, sizeof\(%s\), ((?:\w+ )?\"[^\"]*\")" % (re.escape(expr), re.escape(expr)), body)
        if m:
            fmt = m.group(1)
            macro = re.match(r"(\w+) ", fmt)
            fmt = (self.defines.get(macro.group(1), "") if macro else "") + fmt[fmt.index('"') + 1:-1]
            # "Env[%zu]" -> "Env[]"; a name put in with %s -> "*".
            return re.sub(r"%(?:\.\*)?s", "*", re.sub(r"%z?[ud]|%ll[du]", "", fmt))
        m = re.search(r"\b%s\s*=\s*\"([^\"]*)\"" % re.escape(expr), body)
        if m:
            return m.group(1)
        return None

    def walk(self, fn, env, seen, out):
        if fn not in self.functions or fn in seen:
            return
        seen = seen | {fn}
        params, body, _comment, file = self.functions[fn]
        code = strip_strings_and_comments(body)
        for m in re.finditer(r"\b(\w+)\(", code):
            callee = m.group(1)
            args = split_args(call_args(body, m.end() - 1))
            if callee in ("api_check_fields", "api_check_object") and len(args) == 4:
                where = self.literal(args[2], env, body)
                for t in re.findall(r"\b(\w+_fields|fields|entry)\b", args[3]):
                    rows = self.table(file, fn, t)
                    if rows is not None:
                        out.append((where, [(f.strip('"') if f.startswith('"') else env.get(f) or f, k, n)
                                            for f, k, n in rows]))
            elif callee in self.functions and callee != fn:
                cparams = self.functions[callee][0]
                cenv = {p: self.literal(a, env, body) for p, a in zip(cparams, args) if p}
                self.walk(callee, cenv, seen, out)


# TI-ONE's online-service and model-repository actions (2021-11-11), from the reference's
# section 3: any other action berthd serves is a Berth extension.
TIONE_ACTIONS = {
    "CreateModelService", "ModifyModelService", "ModifyModelServicePartialConfig",
    "DeleteModelService", "DeleteModelServiceGroup", "DescribeModelService",
    "DescribeModelServiceGroup", "DescribeModelServiceGroups", "DescribeModelServiceHistory",
    "ModifyServiceGroupWeights", "DescribeModelServiceHotUpdated", "DescribeModelServiceCallInfo",
    "ModifyModelServiceAuthorization", "CreateModelServiceAuthToken",
    "ModifyModelServiceAuthToken", "DeleteModelServiceAuthToken", "DescribeLogs",
    "DescribeEvents", "DescribeBillingSpecs", "DescribeBillingSpecsPrice",
    "DescribeBillingResourceGroups", "DescribeBillingResourceGroup", "CreateTrainingModel",
    "DescribeTrainingModels", "DescribeTrainingModelVersions", "DescribeTrainingModelVersion",
    "DeleteTrainingModel", "DeleteTrainingModelVersion",
}


def comment_text(comment):
    text = re.sub(r"^/\*\s?|\s*\*/$", "", comment.strip())
    lines = [re.sub(r"^\s*\* ?", "", ln) for ln in text.splitlines()]
    return " ".join(" ".join(lines).split())


def render():
    src = Source()
    api_c = open(os.path.join(ROOT, "src", "api", "api.c")).read()
    table = re.search(r"\} actions\[\] = \{(.*?)\};", api_c, re.S).group(1)
    actions = re.findall(r'\{"(\w+)", (\w+)\}', table)
    known = TIONE_ACTIONS
    out = ["# API reference", "",
           "Generated by `scripts/api_reference.py` (`make api-reference`) from the code's own action "
           "and field tables; the tests fail when it is out of date. Every action is `POST /` with "
           "TC3-HMAC-SHA256 and `X-TC-Action`, `X-TC-Version: 2021-11-11`, `X-TC-Region` "
           "(the [README](../README.md) describes the envelope and the signing). For each action, the fields Berth reads:",
           "",
           "- **used**: does what TI-ONE's reference says (or what the note says);",
           "- **accepted, ignored (cloud-only)**: a TI-ONE field with no meaning on one machine;",
           "- **refused: UnsupportedOperation**: a TI-ONE field Berth does not implement: a request "
           "that sets it is refused, naming it.",
           "",
           "A field that is in no table is refused with `UnknownParameter`; empty strings, `null` and "
           "`false` count as absent. Nested fields are written `Parent.Child`; `[]` marks a list's "
           "items and `*` a name the request chose (`ProbeAction.*` is its `ActionType`).", ""]
    out.append("| action | |")
    out.append("| --- | --- |")
    for name, _fn in actions:
        ext = name not in known
        out.append("| [%s](#%s) | %s |" % (name, name.lower(), "Berth extension" if ext else "TI-ONE"))
    out.append("")
    for name, fn in actions:
        out.append("## %s" % name)
        out.append("")
        if name not in known:
            out.append("*A Berth extension: TI-ONE has no such action.*")
            out.append("")
        if fn in src.functions and src.functions[fn][2]:
            out.append(comment_text(src.functions[fn][2]))
            out.append("")
        found = []
        src.walk(fn, {}, frozenset(), found)
        # A nested table counts where its parent is a field of the action: the same parser
        # also reads back what the store holds (a Describe), which is no request field.
        top = {f for where, fields in found if not where for f, _k, _n in fields}
        found = [(w, f) for w, f in found if not w or re.split(r"[.\[]", w)[0] in top]
        rows, seen = [], set()
        for where, fields in found:
            prefix = (where + ".") if where else ""
            for field, kind, note in fields:
                key = prefix + field
                if key in seen:
                    continue
                seen.add(key)
                rows.append("| `%s` | %s | %s |" % (key, KINDS.get(kind, kind), note.replace("|", "\\|")))
        if rows:
            out += ["| field | Berth | note |", "| --- | --- | --- |"] + rows
        else:
            out.append("No parameters.")
        out.append("")
    return "\n".join(out)


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        try:
            current = open(OUT).read()
        except OSError:
            current = ""
        if current != text:
            sys.stderr.write("docs/api-reference.md is out of date: run make api-reference\n")
            return 1
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
