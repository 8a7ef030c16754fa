"""The state's canonical encoding (SPEC.md 10.1, 10.2) as a table-driven decoder.

Used on the vectors' map entries: each key and value must decode by exactly the types of
SPEC.md's tables and consume every byte, with maps and sets in ascending order. That
checks the tables themselves (field order, types, enum variants), which the digest alone
does not."""

import re

AMOUNT = re.compile(r"^-?[0-9]+\.[0-9]{2}$")
RATIO = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

S = "string"
RECORDS = {
    "Party": [("id", S), ("kind", S), ("name", S), ("iban", ("opt", S)), ("registered_by", S)],
    "KeyVersion": [("version", "u32"), ("valid_from", "date"), ("shares", ("map", S, "ratio")),
                   ("proposed_by", S), ("approvals", ("set", S)), ("in_force", "bool")],
    "QuickTest": [("plan", S), ("title", S), ("region", S), ("theme", S), ("coordinating_insurer", S),
                  ("second_assessor", S), ("estimated_total", "amount"), ("status", ("enum", "QuickTestStatus")),
                  ("history", ("vec", "Event"))],
    "Event": [("index", "u64"), ("by", S), ("what", S)],
    "Plan": [("id", S), ("version", "u32"), ("title", S), ("region", S), ("theme", S),
             ("coordinating_insurer", S), ("second_assessor", S), ("start", "date"),
             ("units", ("map", S, "Unit")), ("milestones", ("map", S, "Milestone")),
             ("pending_reschedules", ("map", S, ("set", S))), ("pending_cancellation", ("set", S)),
             ("history", ("vec", "Event"))],
    "Unit": [("status", ("enum", "AssessmentStatus")), ("assessments", ("map", S, ("enum", "Verdict"))),
             ("funding", ("enum", "Funding")), ("from_reservation", "amount"), ("milestones", ("vec", S)),
             ("evidence_sha256", ("vec", S)), ("title", S)],
    "Milestone": [("id", S), ("addendum", S), ("title", S), ("kind", S), ("due", "date"),
                  ("lines", ("vec", "Line")), ("amount", "amount"), ("status", ("enum", "MilestoneStatus")),
                  ("evidence_sha256", ("vec", S)), ("obligations", ("vec", S))],
    "Line": [("beneficiary", S), ("payee", S), ("sector", S), ("amount", "amount"), ("payable", "amount")],
    "Obligation": [("id", S), ("plan", S), ("milestone", S), ("line", "u32"), ("insurer", S), ("beneficiary", S),
                   ("payee", S), ("sector", S), ("region", S), ("theme", S), ("amount", "amount"),
                   ("paid", "amount"), ("attained_on", "date"), ("key_group", S), ("key_version", "u32"),
                   ("created_at", "u64"), ("payments", ("vec", S))],
    "Payment": [("id", S), ("insurer", S), ("settlements", ("vec", ("tuple", S, "amount"))),
                ("value_date", "date"), ("bank_reference", S), ("recorded_at", "u64"),
                ("reversed", ("opt", "Reversal"))],
    "Reversal": [("reason", S), ("at", "u64")],
    "ExternalFunding": [("id", S), ("sector", S), ("region", S), ("theme", S), ("paid_on", "date"),
                        ("amount", "amount"), ("description", S), ("recorded_by", S)],
    "MembershipProposal": [("node", S), ("change", S), ("address", S), ("approvers", ("set", S)),
                           ("executed", ("opt", ("tuple", "u64", S)))],
    "Fund": [("initial", "amount"), ("adjustments", ("vec", "Adjustment")),
             ("reservations", ("map", S, "Reservation")), ("queue", ("vec", "UnitRef")),
             ("intake_closed", ("opt", "date"))],
    "Adjustment": [("delta", "amount"), ("reason", S), ("effective", "date"), ("at", "u64")],
    "Reservation": [("amount", "amount"), ("used", "amount"), ("released", "bool")],
    "UnitRef": [("plan", S), ("addendum", S)],
}
ENUMS = {
    "QuickTestStatus": [("Submitted", []), ("Passed", []), ("Failed", [])],
    "AssessmentStatus": [(n, []) for n in ("Submitted", "Escalated", "Returned", "Rejected", "Approved", "Cancelled")],
    "Verdict": [("Approve", []), ("Reject", []), ("Return", [])],
    "Funding": [("None", []), ("Queued", []), ("Funded", [])],
    "Attainment": [("Fraction", [("ratio", "ratio")]), ("ActualCosts", [])],
    "MilestoneStatus": [
        ("Planned", []),
        ("Attained", [("on", "date"), ("attainment", ("enum", "Attainment")), ("payable", "amount"),
                      ("keys", ("map", S, "u32"))]),
        ("Confirmed", [("on", "date"), ("confirmed_on", "date"), ("payable", "amount")]),
        ("Missed", []),
        ("Cancelled", []),
    ],
}
MAPS = {
    "parties": (S, "Party"),
    "keys": (S, ("map", "u32", "KeyVersion")),
    "quick_tests": (S, "QuickTest"),
    "plans": (S, "Plan"),
    "obligations": (S, "Obligation"),
    "payments": (S, "Payment"),
    "external_funding": (S, "ExternalFunding"),
    "rejections": (S, "u64"),
    "attestations": (S, ("tuple", "u64", S, "u64")),
    "readers": (S, S),
    "membership": (S, "MembershipProposal"),
}
STRING_FORMS = {"Party.kind": {"provider", "cashier", "municipality", "social_partner"},
                "Milestone.kind": {"effort", "result"},
                "MembershipProposal.change": {"remove", "add_learner", "promote"}}


class Bad(Exception):
    pass


class Reader:
    def __init__(self, b):
        self.b, self.p = bytes(b), 0

    def take(self, n):
        if self.p + n > len(self.b):
            raise Bad(f"runs past the end at byte {self.p} (wanted {n})")
        out = self.b[self.p : self.p + n]
        self.p += n
        return out

    def u(self, n):
        return int.from_bytes(self.take(n), "big")


def _sort_key(t, v):
    return v.encode() if t in (S, "amount", "ratio", "date") else v


def decode(r, t, path="value"):
    if t == S or t in ("amount", "ratio", "date"):
        n = r.u(8)
        try:
            s = r.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise Bad(f"{path}: not UTF-8")
        pat = {"amount": AMOUNT, "ratio": RATIO, "date": DATE}.get(t)
        if pat is not None and not pat.match(s):
            raise Bad(f"{path}: {s!r} is not a {t}")
        return s
    if t == "u32":
        return r.u(4)
    if t == "u64":
        return r.u(8)
    if t == "bool":
        b = r.u(1)
        if b > 1:
            raise Bad(f"{path}: bool byte {b}")
        return bool(b)
    if isinstance(t, tuple):
        kind = t[0]
        if kind == "opt":
            tag = r.u(1)
            if tag == 0:
                return None
            if tag != 1:
                raise Bad(f"{path}: option tag {tag}")
            return decode(r, t[1], path)
        if kind in ("vec", "set"):
            n = r.u(8)
            items = [decode(r, t[1], f"{path}[{i}]") for i in range(n)]
            if kind == "set":
                keys = [_sort_key(t[1], x) for x in items]
                if keys != sorted(set(keys)):
                    raise Bad(f"{path}: set not ascending")
            return items
        if kind == "map":
            n = r.u(8)
            out = []
            for i in range(n):
                k = decode(r, t[1], f"{path}.key{i}")
                v = decode(r, t[2], f"{path}[{k!r}]")
                out.append((k, v))
            keys = [_sort_key(t[1], k) for k, _ in out]
            if keys != sorted(set(keys)):
                raise Bad(f"{path}: map keys not ascending")
            return dict(out)
        if kind == "tuple":
            return tuple(decode(r, x, f"{path}.{i}") for i, x in enumerate(t[1:]))
        if kind == "enum":
            idx = r.u(4)
            variants = ENUMS[t[1]]
            if idx >= len(variants):
                raise Bad(f"{path}: {t[1]} variant {idx} unknown")
            name, fields = variants[idx]
            return {name: {f: decode(r, ft, f"{path}.{f}") for f, ft in fields}}
    if t in RECORDS:
        out = {}
        for f, ft in RECORDS[t]:
            out[f] = decode(r, ft, f"{path}.{f}")
            forms = STRING_FORMS.get(f"{t}.{f}")
            if forms is not None and out[f] not in forms:
                raise Bad(f"{path}.{f}: {out[f]!r} not one of {sorted(forms)}")
        return out
    raise Bad(f"unknown type {t!r}")


def decode_all(t, b, path):
    r = Reader(b)
    v = decode(r, t, path)
    if r.p != len(r.b):
        raise Bad(f"{path}: {len(r.b) - r.p} bytes left over")
    return v
