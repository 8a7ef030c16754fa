"""Building blocks of the fairshare verifier, each from one section of SPEC.md."""

import datetime
import hashlib
import os
import re
import sys
from fractions import Fraction

_HERE = os.path.dirname(os.path.abspath(__file__))


def _add_generated_path():
    """The _pb2 modules compiled by scripts/install-python-verifier.sh (outside git)."""
    candidates = []
    if os.environ.get("FAIRSHARE_PB2_DIR"):
        candidates.append(os.environ["FAIRSHARE_PB2_DIR"])
    candidates.append(os.path.join(_HERE, "..", "..", "target", "python-verifier", "gen"))
    for c in candidates:
        if os.path.isfile(os.path.join(c, "fairshare", "ledger_pb2.py")):
            sys.path.insert(0, os.path.abspath(c))
            return
    sys.stderr.write(
        "fairshare_verify: the compiled schema is missing; run scripts/install-python-verifier.sh "
        "(or set FAIRSHARE_PB2_DIR)\n"
    )
    sys.exit(2)


_add_generated_path()

from fairshare import audit_pb2, ledger_pb2  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402


def sha256(b):
    return hashlib.sha256(b).digest()


def u64be(n):
    return n.to_bytes(8, "big")


def i32be(n):
    return n.to_bytes(4, "big", signed=True)


# ------------------------------------------------------------------ raw protobuf wire


def read_varint(buf, pos):
    """(value, new_pos, shortest) or raises ValueError."""
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift >= 64:
            raise ValueError("varint longer than 10 bytes")
    n = pos - start
    shortest = n == 1 or buf[pos - 1] != 0
    return result, pos, shortest


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def split_block(block_bytes):
    """SPEC.md 7.1: a block is only field-1 length-delimited records (key 0x0a,
    shortest-form length). Returns the list of envelope byte strings, or raises ValueError."""
    out = []
    pos = 0
    buf = bytes(block_bytes)
    while pos < len(buf):
        if buf[pos] != 0x0A:
            raise ValueError(f"byte {pos}: key 0x{buf[pos]:02x}, not 0x0a (field 1, length-delimited)")
        length, npos, shortest = read_varint(buf, pos + 1)
        if not shortest:
            raise ValueError(f"byte {pos}: envelope length {length} not in shortest form")
        if npos + length > len(buf):
            raise ValueError(f"byte {pos}: envelope of {length} bytes runs past the block's end")
        out.append(buf[npos : npos + length])
        pos = npos + length
    return out


def raw_fields(buf):
    """[(field_number, wire_type, value_bytes_or_int)] of a message's top level."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos, _ = read_varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, pos, _ = read_varint(buf, pos)
        elif wt == 2:
            n, pos, _ = read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("length-delimited field runs past the end")
            v = buf[pos : pos + n]
            pos += n
        elif wt == 1:
            v = buf[pos : pos + 8]
            pos += 8
        elif wt == 5:
            v = buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"wire type {wt}")
        out.append((fn, wt, v))
    return out


# ------------------------------------------------------------------ canonical rule (3)


def decode_canonical(cls, data):
    """(message, canonical: bool, error). SPEC.md 3: the round trip, unknown fields dropped."""
    msg = cls()
    try:
        msg.ParseFromString(bytes(data))
    except (DecodeError, Exception) as e:  # upb raises DecodeError; be broad
        return None, False, f"does not decode as {cls.DESCRIPTOR.name}: {e}"
    msg.DiscardUnknownFields()
    canonical = msg.SerializeToString(deterministic=True) == bytes(data)
    return msg, canonical, None


def canonical_bytes(msg):
    m = type(msg)()
    m.CopyFrom(msg)
    m.DiscardUnknownFields()
    return m.SerializeToString(deterministic=True)


# ------------------------------------------------------------------ ids and leaves (4)


def transaction_id(signer, body):
    s = signer.encode("utf-8")
    return sha256(u64be(len(s)) + s + bytes(body))


def id_preimage(signer, body):
    s = signer.encode("utf-8")
    return u64be(len(s)) + s + bytes(body)


def leaf_hash(envelope_bytes):
    return sha256(b"\x00" + bytes(envelope_bytes))


# ------------------------------------------------------------------ Merkle (8)

EMPTY_ROOT = sha256(b"")


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class MerkleLog:
    """RFC 6962 tree over a growing list of leaf hashes; roots at any size, with the
    hashes of complete (power-of-two, aligned) subtrees cached."""

    def __init__(self):
        self.leaves = []
        self._cache = {}

    def append(self, lh):
        self.leaves.append(lh)

    def __len__(self):
        return len(self.leaves)

    def _mth(self, lo, hi):
        n = hi - lo
        if n == 1:
            return self.leaves[lo]
        complete = n & (n - 1) == 0
        if complete:
            h = self._cache.get((lo, n))
            if h is not None:
                return h
        k = _split(n)
        h = node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))
        if complete:
            self._cache[(lo, n)] = h
        return h

    def root(self, size=None):
        if size is None:
            size = len(self.leaves)
        if size == 0:
            return EMPTY_ROOT
        return self._mth(0, size)

    def inclusion_proof(self, m, n):
        return _path(m, self.leaves[:n])

    def consistency_proof(self, m, n):
        return _subproof(m, self.leaves[:n], True)


def mth(leaves):
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def _path(m, d):
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    n = len(d)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return _path(m, d[:k]) + [mth(d[k:])]
    return _path(m - k, d[k:]) + [mth(d[:k])]


def _subproof(m, d, b):
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _split(n)
    if m <= k:
        return _subproof(m, d[:k], b) + [mth(d[k:])]
    return _subproof(m - k, d[k:], False) + [mth(d[:k])]


def consistency_proof(m, d):
    if m == 0 or m == len(d):
        return []
    return _subproof(m, d, True)


def verify_inclusion(leaf_index, tree_size, lh, proof, root):
    """RFC 9162 2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, lh
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2, with SPEC.md 8's rules for m = n and m = 0."""
    if first > second:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof and first_hash == EMPTY_ROOT
    if first & (first - 1) == 0:
        proof = [first_hash] + list(proof)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


# ------------------------------------------------------------------ genesis (6)

SLUG = re.compile(r"^[a-z0-9][a-z0-9\-_.]{0,63}$")
SHARE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")
DECIMAL = re.compile(r"^([+-]?)([0-9]+)(?:\.([0-9]*))?$")


def is_slug(s):
    return bool(SLUG.match(s)) and len(s.encode()) <= 64


def is_date(s):
    if not re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", s):
        return False
    try:
        d = datetime.date.fromisoformat(s)
    except ValueError:
        return False
    return 1900 <= d.year <= 9999


def parse_amount_micros(text):
    """SPEC.md 6.2 amount -> micro-euros; raises ValueError."""
    m = DECIMAL.match(text.strip())
    if not m:
        raise ValueError(f"not a decimal: {text!r}")
    sign, whole, frac = m.group(1), m.group(2), (m.group(3) or "")
    frac = frac.rstrip("0")
    if len(frac) > 2:
        raise ValueError(f"more than two decimals: {text!r}")
    micros = int(whole) * 1_000_000 + int((frac + "000000")[:6])
    if sign == "-" and micros != 0:
        raise ValueError(f"negative: {text!r}")
    return micros


def canonical_share(text):
    """SPEC.md 6.2 share -> (canonical string, Fraction); raises ValueError."""
    m = DECIMAL.match(text.strip())
    if not m:
        raise ValueError(f"not a decimal: {text!r}")
    sign, whole, frac = m.group(1), m.group(2), (m.group(3) or "")
    frac = frac.rstrip("0")
    if len(frac) > 12:
        raise ValueError(f"more than 12 decimals: {text!r}")
    whole = whole.lstrip("0") or "0"
    value = Fraction(int(whole + frac), 10 ** len(frac))
    if sign == "-":
        value = -value
    if value <= 0:
        raise ValueError(f"not more than 0: {text!r}")
    return (whole + ("." + frac if frac else "")), value


def genesis_problems(g):
    """Everything SPEC.md 6.3/6.4 says about a canonical genesis, checked on the decoded
    message. Returns a list of problems (empty when canonical and valid)."""
    from ed25519_rule import genesis_key_ok

    probs = []
    if not is_slug(g.ledger_id):
        probs.append(f"ledger_id {g.ledger_id!r} is not a slug")
    if not g.HasField("ministry"):
        probs.append("no ministry")
    ins = [m.id for m in g.insurers]
    regs = [m.id for m in g.regulators]
    if ins != sorted(ins, key=lambda s: s.encode()):
        probs.append("insurers not sorted by id")
    if regs != sorted(regs, key=lambda s: s.encode()):
        probs.append("regulators not sorted by id")
    if len(ins) < 2:
        probs.append("fewer than two insurers")
    all_ids = [g.ministry.id] + ins + ["node:" + i for i in ins] + regs
    if len(set(all_ids)) != len(all_ids):
        probs.append("ids not unique")

    def member(m, what, node):
        if not is_slug(m.id):
            probs.append(f"{what} id {m.id!r} is not a slug")
        for name, key, required in (("signing_key", m.signing_key, True), ("node_key", m.node_key, node)):
            if not required:
                if key:
                    probs.append(f"{what} {m.id}: {name} set on a member that is not an insurer")
                continue
            if len(key) != 32:
                probs.append(f"{what} {m.id}: {name} is not 32 bytes")
                continue
            ok, why = genesis_key_ok(key)
            if not ok:
                probs.append(f"{what} {m.id}: {name} {key.hex()} {why}")

    member(g.ministry, "ministry", False)
    for m in g.insurers:
        member(m, "insurer", True)
    for m in g.regulators:
        member(m, "regulator", False)
    sec = [s.id for s in g.sectors]
    if not sec:
        probs.append("no sector (the canonical form always has at least the default sector)")
    if sec != sorted(sec, key=lambda s: s.encode()) or len(set(sec)) != len(sec):
        probs.append("sectors not sorted by id or not unique")
    for s in g.sectors:
        if not is_slug(s.id) or not is_slug(s.key_group):
            probs.append(f"sector {s.id!r}: id or key group not a slug")
        if s.earmark_micros < 0 or s.earmark_micros % 10_000:
            probs.append(f"sector {s.id}: earmark {s.earmark_micros} micros is negative or not whole cents")
    groups = [k.key_group for k in g.keys]
    if groups != sorted(groups, key=lambda s: s.encode()) or len(set(groups)) != len(groups):
        probs.append("keys not sorted by key_group or more than one per group")
    for s in g.sectors:
        if s.key_group not in groups:
            probs.append(f"sector {s.id}: key group {s.key_group!r} has no initial key")
    for k in g.keys:
        if not is_slug(k.key_group):
            probs.append(f"key group {k.key_group!r} not a slug")
        if k.version != 1:
            probs.append(f"key {k.key_group}: version {k.version}, not 1")
        if not is_date(k.valid_from):
            probs.append(f"key {k.key_group}: valid_from {k.valid_from!r} not a date")
        names = [s.insurer for s in k.shares]
        if names != sorted(names, key=lambda s: s.encode()) or len(set(names)) != len(names):
            probs.append(f"key {k.key_group}: shares not sorted by insurer or repeated")
        total = Fraction(0)
        for s in k.shares:
            if s.insurer not in ins:
                probs.append(f"key {k.key_group}: share of unknown insurer {s.insurer!r}")
            try:
                canon, value = canonical_share(s.share)
            except ValueError as e:
                probs.append(f"key {k.key_group}: {e}")
                continue
            if canon != s.share:
                probs.append(f"key {k.key_group}: share {s.share!r} not in canonical form ({canon!r})")
            total += value
        if total != 1:
            probs.append(f"key {k.key_group}: shares sum to {total}, not 1")
    if g.fund_micros < 0 or g.fund_micros % 10_000:
        probs.append(f"fund {g.fund_micros} micros is negative or not whole cents")
    return probs


def genesis_from_toml(doc):
    """SPEC.md 6.1-6.4: a parsed genesis TOML -> the canonical Genesis message."""
    g = ledger_pb2.Genesis()
    g.ledger_id = doc["ledger_id"]
    g.fund_micros = parse_amount_micros(doc["fund"])

    def fill(m, t, node):
        m.id = t["id"]
        m.name = t["name"]
        m.signing_key = bytes.fromhex(t["public_key"])
        if node:
            m.node_key = bytes.fromhex(t["node_key"])

    fill(g.ministry, doc["ministry"], False)
    for t in sorted(doc.get("insurers", []), key=lambda t: t["id"].encode()):
        fill(g.insurers.add(), t, True)
    for t in sorted(doc.get("regulators", []), key=lambda t: t["id"].encode()):
        fill(g.regulators.add(), t, False)
    sectors = doc.get("sectors") or [{"id": "all", "name": "All care"}]
    for t in sorted(sectors, key=lambda t: t["id"].encode()):
        s = g.sectors.add()
        s.id = t["id"]
        s.name = t["name"]
        s.key_group = t.get("key_group", "national")
        s.earmark_micros = parse_amount_micros(t.get("earmark", "0.00"))
    for t in sorted(doc.get("keys", []), key=lambda t: t.get("key_group", "national").encode()):
        k = g.keys.add()
        k.key_group = t.get("key_group", "national")
        k.version = 1
        k.valid_from = t["valid_from"]
        for ins in sorted(t["shares"], key=lambda s: s.encode()):
            sh = k.shares.add()
            sh.insurer = ins
            sh.share = canonical_share(t["shares"][ins])[0]
    return g


def quorum(n_insurers):
    return (2 * n_insurers) // 3 + 1


def signers_of(g):
    """Key id -> (role, node-or-None, public key bytes), SPEC.md 6.4."""
    out = {g.ministry.id: ("ministry", None, bytes(g.ministry.signing_key))}
    for m in g.insurers:
        out[m.id] = ("insurer", None, bytes(m.signing_key))
        out["node:" + m.id] = ("node", m.id, bytes(m.node_key))
    for m in g.regulators:
        out[m.id] = ("regulator", None, bytes(m.signing_key))
    return out


# ------------------------------------------------------------------ state digest (10)


def c_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return u64be(len(b)) + b


def c_u32(n):
    return n.to_bytes(4, "big")


def c_bool(b):
    return b"\x01" if b else b"\x00"


def amount_string(micros):
    """SPEC.md 10.1 Amount: exactly two decimals (whole cents)."""
    sign = "-" if micros < 0 else ""
    cents = abs(micros) // 10_000
    return f"{sign}{cents // 100}.{cents % 100:02d}"


EMPTY_BUCKET = sha256(b"\x00")


def map_root(entries):
    """SPEC.md 10.3: entries = [(canonical key bytes, canonical value bytes)]."""
    buckets = {}
    for k, v in entries:
        kh, vh = sha256(k), sha256(v)
        b = kh[0] * 16 + kh[1] // 16
        buckets.setdefault(b, []).append((kh, vh))
    level = []
    for b in range(4096):
        if b in buckets:
            items = sorted(buckets[b])
            level.append(sha256(b"\x00" + b"".join(kh + vh for kh, vh in items)))
        else:
            level.append(EMPTY_BUCKET)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


MAP_ORDER = [
    "parties", "keys", "quick_tests", "plans", "obligations", "payments",
    "external_funding", "rejections", "attestations", "readers", "membership",
]


def digest_input(genesis_hash, leaves_digest, roots, fund_bytes):
    return (
        c_str(genesis_hash.hex()) + c_str(leaves_digest.hex()) + b"".join(roots) + bytes(fund_bytes)
    )


def genesis_state_entries(g):
    """The state at genesis (SPEC.md 10.2 last paragraph): the `keys` map entries and the
    fund, canonically encoded."""
    insurers = sorted((m.id for m in g.insurers), key=lambda s: s.encode())
    entries = []
    for k in g.keys:
        shares = sorted(((s.insurer, s.share) for s in k.shares), key=lambda t: t[0].encode())
        kv = (
            c_u32(k.version) + c_str(k.valid_from)
            + u64be(len(shares)) + b"".join(c_str(i) + c_str(s) for i, s in shares)
            + c_str("genesis")
            + u64be(len(insurers)) + b"".join(c_str(i) for i in insurers)
            + c_bool(True)
        )
        versions = u64be(1) + c_u32(k.version) + kv  # Map<u32 version, KeyVersion>
        entries.append((c_str(k.key_group), versions))
    fund = c_str(amount_string(g.fund_micros)) + u64be(0) + u64be(0) + u64be(0) + b"\x00"
    return entries, fund


def leaf_chain_step(prev, index, txid, signer, nonce, code, message):
    """SPEC.md 10.4."""
    s = signer.encode("utf-8")
    m = message.encode("utf-8")
    return sha256(
        prev + u64be(index) + txid + u64be(len(s)) + s + u64be(nonce) + i32be(code) + u64be(len(m)) + m
    )
