"""Checks of the SPEC.md test vectors (section 14), each recomputed from the spec's rules."""

import json
import os
import tomllib

import ed25519_rule as ed
import fscore as fs
import state_schema
from fscore import ledger_pb2

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover
    Ed25519PublicKey = None


class Tally:
    def __init__(self):
        self.counts = {}
        self.failures = []
        self.skipped = []

    def check(self, area, cond, what):
        self.counts[area] = self.counts.get(area, 0) + 1
        if not cond:
            self.failures.append(f"{area}: {what}")
        return cond


def _h(x):
    return bytes.fromhex(x)


def _load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p, "rb") as f:
        return json.load(f) if name.endswith(".json") else f.read()


def _library_verdict(pk, msg, sig):
    if Ed25519PublicKey is None:
        return None
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def check_signatures(t, d):
    v = _load(d, "signatures.json")
    if v is None:
        t.skipped.append("signatures.json")
        return
    for c in v["cases"]:
        pk, msg, sig = _h(c["public_key"]), _h(c["message"]), _h(c["signature"])
        t.check("signatures", ed.verify(pk, msg, sig) == c["valid"], f"{c['name']}: exact rule says {not c['valid']}")
        t.check("signatures", ed.Verifier().verify(pk, msg, sig) == c["valid"], f"{c['name']}: fast path + rule disagree")
        lib = _library_verdict(pk, msg, sig)
        if lib is not None:
            t.check("signatures", lib == c["valid_cofactorless_strict"],
                    f"{c['name']}: cryptography says {lib}, the vector's valid_cofactorless_strict {c['valid_cofactorless_strict']}")
    for c in v["public_keys"]:
        b = _h(c["public_key"])
        dec = ed.decode_point(b) is not None
        t.check("public_keys", dec == c["decodes"], f"{c['name']}: decodes {dec}")
        if dec:
            t.check("public_keys", ed.is_canonical_encoding(b) == c["canonical_encoding"], f"{c['name']}: canonical_encoding")
        ok, _ = ed.genesis_key_ok(b)
        t.check("public_keys", ok == c["accepted_in_genesis"], f"{c['name']}: accepted_in_genesis {ok}")


def load_genesis(t, d):
    v = _load(d, "genesis.json")
    toml_bytes = _load(d, "genesis.toml")
    if v is None:
        t.skipped.append("genesis.json")
        return None
    G = _h(v["canonical"])
    g, canonical, err = fs.decode_canonical(ledger_pb2.Genesis, G)
    t.check("genesis", g is not None and canonical, f"canonical genesis does not round-trip: {err}")
    t.check("genesis", fs.sha256(G).hex() == v["hash"], "hash")
    t.check("genesis", fs.genesis_problems(g) == [], f"problems: {fs.genesis_problems(g)}")
    t.check("genesis", fs.quorum(len(g.insurers)) == v["quorum"], "quorum")
    if toml_bytes is not None:
        mine = fs.genesis_from_toml(tomllib.loads(toml_bytes.decode()))
        mb = fs.canonical_bytes(mine)
        t.check("genesis", mb == G, f"genesis.toml canonicalised here gives {fs.sha256(mb).hex()}, not {v['hash']}")
    signers = fs.signers_of(g)
    for s in v.get("signers", []):
        mine = signers.get(s["key_id"])
        t.check("genesis", mine is not None and mine[2].hex() == s["public_key"], f"signer {s['key_id']}")
        role = {"ministry": "Ministry", "insurer": "Insurer", "node": "Node", "regulator": "Regulator"}.get(mine[0] if mine else "")
        t.check("genesis", role is not None and s["role"].lower().startswith(role.lower()), f"signer {s['key_id']} role {s['role']} vs {mine and mine[0]}")
    t.check("genesis", len(v.get("signers", [])) == len(signers), "number of key ids")
    mv = v.get("minimal")
    if mv is not None:
        src = _load(d, mv.get("source", "genesis-minimal.toml"))
        MG = _h(mv["canonical"])
        mg, mcanon, err = fs.decode_canonical(ledger_pb2.Genesis, MG)
        t.check("genesis", mg is not None and mcanon, f"minimal: canonical genesis does not round-trip: {err}")
        t.check("genesis", fs.sha256(MG).hex() == mv["hash"], "minimal: hash")
        t.check("genesis", fs.genesis_problems(mg) == [], f"minimal: problems {fs.genesis_problems(mg)}")
        t.check("genesis", fs.quorum(len(mg.insurers)) == int(mv["quorum"]), "minimal: quorum")
        if src is not None:
            mine = fs.canonical_bytes(fs.genesis_from_toml(tomllib.loads(src.decode())))
            t.check("genesis", mine == MG, f"minimal: canonicalised here {mine.hex()}")
    f = v.get("fields", {})
    if f:
        t.check("genesis", f["fund_micros"] == g.fund_micros and f["ledger_id"] == g.ledger_id, "fields")
    return g


def check_transactions(t, d, g):
    v = _load(d, "transactions.json")
    if v is None:
        t.skipped.append("transactions.json")
        return
    signers = fs.signers_of(g) if g is not None else {}
    for c in v["examples"]:
        E = _h(c["envelope"])
        env, canon, err = fs.decode_canonical(ledger_pb2.Envelope, E)
        t.check("transactions", env is not None and canon, f"{c['name']}: envelope not canonical {err}")
        tx, bcanon, err = fs.decode_canonical(ledger_pb2.Transaction, env.body)
        t.check("transactions", tx is not None and bcanon, f"{c['name']}: body not canonical {err}")
        t.check("transactions", env.body.hex() == c["body"] and env.signer == c["signer"] and env.signature.hex() == c["signature"], f"{c['name']}: fields")
        t.check("transactions", fs.id_preimage(env.signer, env.body).hex() == c["id_preimage"], f"{c['name']}: id preimage")
        t.check("transactions", fs.transaction_id(env.signer, env.body).hex() == c["id"], f"{c['name']}: id")
        t.check("transactions", fs.leaf_hash(E).hex() == c["leaf_hash"], f"{c['name']}: leaf hash")
        if env.signer in signers:
            t.check("transactions", ed.verify(signers[env.signer][2], env.body, env.signature), f"{c['name']}: signature")
    for c in v["non_canonical"]:
        E = _h(c["envelope"])
        env, canon, err = fs.decode_canonical(ledger_pb2.Envelope, E)
        t.check("non_canonical", env is not None, f"{c['name']}: does not decode: {err}")
        t.check("non_canonical", canon == c["envelope_is_canonical"], f"{c['name']}: envelope canonical {canon}")
        t.check("non_canonical", fs.canonical_bytes(env).hex() == c["reencoded_envelope"], f"{c['name']}: re-encoding")
        tx, bcanon, _ = fs.decode_canonical(ledger_pb2.Transaction, env.body)
        t.check("non_canonical", tx is not None and bcanon == c["body_is_canonical"], f"{c['name']}: body canonical {bcanon}")
        if env.signer in signers:
            t.check("non_canonical", ed.verify(signers[env.signer][2], env.body, env.signature) == c["signature_valid"], f"{c['name']}: signature")
        t.check("non_canonical", not (canon and bcanon) and c["verdict"].startswith("refused"), f"{c['name']}: would be accepted")


def check_merkle(t, d):
    v = _load(d, "merkle.json")
    if v is None:
        t.skipped.append("merkle.json")
        return
    leaves = []
    for l in v["leaves"]:
        lh = fs.leaf_hash(_h(l["data"]))
        t.check("merkle", lh.hex() == l["leaf_hash"], f"leaf {l['data']!r}")
        leaves.append(lh)
    for n, root in enumerate(v["roots"]):
        r = root if isinstance(root, str) else root.get("root")
        t.check("merkle", fs.mth(leaves[:n]).hex() == r, f"root at {n}")
    log = fs.MerkleLog()
    for lh in leaves:
        log.append(lh)
    for n in range(len(leaves) + 1):
        t.check("merkle", log.root(n) == fs.mth(leaves[:n]), f"incremental root at {n}")
    for p in v["inclusion"]:
        m, n = p["index"], p["size"]
        proof = [_h(x) for x in p["proof"]]
        t.check("inclusion", [x.hex() for x in fs._path(m, leaves[:n])] == p["proof"], f"PATH({m}, {n})")
        t.check("inclusion", fs.verify_inclusion(m, n, leaves[m], proof, fs.mth(leaves[:n])), f"verify ({m}, {n})")
        if proof:
            bad = list(proof)
            bad[0] = fs.sha256(bad[0])
            t.check("inclusion", not fs.verify_inclusion(m, n, leaves[m], bad, fs.mth(leaves[:n])), f"tampered ({m}, {n}) verifies")
    for p in v["consistency"]:
        m, n = p["old_size"], p["new_size"]
        proof = [_h(x) for x in p["proof"]]
        t.check("consistency", [x.hex() for x in fs.consistency_proof(m, leaves[:n])] == p["proof"], f"PROOF({m}, {n})")
        t.check("consistency", fs.verify_consistency(m, n, fs.mth(leaves[:m]), fs.mth(leaves[:n]), proof), f"verify ({m}, {n})")
        if proof:
            bad = list(proof)
            bad[-1] = fs.sha256(bad[-1])
            t.check("consistency", not fs.verify_consistency(m, n, fs.mth(leaves[:m]), fs.mth(leaves[:n]), bad), f"tampered ({m}, {n}) verifies")
    # SPEC.md 8: m = 0 is accepted only with the empty root.
    t.check("consistency", fs.verify_consistency(0, 3, fs.EMPTY_ROOT, fs.mth(leaves[:3]), []), "(0, 3) empty root")
    t.check("consistency", not fs.verify_consistency(0, 3, leaves[0], fs.mth(leaves[:3]), []), "(0, 3) other root")


def check_state_digests(t, d, g):
    v = _load(d, "state-digests.json")
    if v is None:
        t.skipped.append("state-digests.json")
        return {}
    digests = {}
    for st in v["states"]:
        size = st["size"]
        roots = []
        order = st.get("maps_in_order", fs.MAP_ORDER)
        t.check("state_digests", order == fs.MAP_ORDER, f"size {size}: map order {order}")
        for name in fs.MAP_ORDER:
            m = st["maps"][name]
            entries = m["entries"]
            pairs = []
            for e in entries:
                k, val = _h(e["key"]), _h(e["value"])
                kt, vt = state_schema.MAPS[name]
                try:
                    state_schema.decode_all(kt, k, f"{name} key")
                    state_schema.decode_all(vt, val, f"size {size} {name} value")
                    t.check("state_schema", True, "")
                except state_schema.Bad as ex:
                    t.check("state_schema", False, f"size {size} {name}: the entry does not decode by SPEC.md 10.2: {ex}")
                kh, vh = fs.sha256(k), fs.sha256(val)
                t.check("state_entries", kh.hex() == e["key_hash"] and vh.hex() == e["value_hash"], f"size {size} {name}: entry hashes")
                t.check("state_entries", kh[0] * 16 + kh[1] // 16 == e["bucket"], f"size {size} {name}: bucket")
                pairs.append((k, val))
            for bl in m.get("bucket_leaves", []):
                items = sorted((fs.sha256(k), fs.sha256(val)) for k, val in pairs
                               if fs.sha256(k)[0] * 16 + fs.sha256(k)[1] // 16 == bl["bucket"])
                leaf = fs.sha256(b"\x00" + b"".join(a + b for a, b in items))
                t.check("state_buckets", leaf.hex() == bl["leaf"], f"size {size} {name}: bucket {bl['bucket']} leaf")
            root = fs.map_root(pairs)
            t.check("state_roots", root.hex() == m["root"], f"size {size} {name}: root")
            roots.append(root)
        try:
            state_schema.decode_all("Fund", _h(st["fund"]), f"size {size} fund")
            t.check("state_schema", True, "")
        except state_schema.Bad as ex:
            t.check("state_schema", False, f"size {size} fund does not decode by SPEC.md 10.2: {ex}")
        di = fs.digest_input(_h(st["genesis_hash"]), _h(st["leaves_digest"]), roots, _h(st["fund"]))
        t.check("state_digests", di.hex() == st["digest_input"], f"size {size}: digest input")
        sd = fs.sha256(di)
        t.check("state_digests", sd.hex() == st["state_digest"], f"size {size}: digest {sd.hex()}")
        digests[size] = (sd, _h(st["leaves_digest"]))
        if size == 0 and g is not None:
            # The genesis state built here from genesis alone (SPEC.md 10.2), not from the vector.
            entries, fund = fs.genesis_state_entries(g)
            given = sorted((_h(e["key"]), _h(e["value"])) for e in st["maps"]["keys"]["entries"])
            t.check("genesis_state", sorted(entries) == given, "the keys map at genesis, built from genesis, differs from the vector's")
            t.check("genesis_state", fund.hex() == st["fund"], f"the fund at genesis, built from genesis: {fund.hex()}")
            ghash = fs.sha256(fs.canonical_bytes(g))
            empty = fs.map_root([])
            own = [fs.map_root(entries) if n == "keys" else empty for n in fs.MAP_ORDER]
            own_digest = fs.sha256(fs.digest_input(ghash, b"\x00" * 32, own, fund))
            t.check("genesis_state", own_digest.hex() == st["state_digest"], f"state digest at genesis built from genesis: {own_digest.hex()}")
    return digests


def check_export(t, d, g, state_digests):
    v = _load(d, "export.json")
    blob = _load(d, "export.fairshare")
    if v is None or blob is None:
        t.skipped.append("export.json / export.fairshare")
        return
    import fairshare_verify as fv

    out, ver = fv.verify_export(os.path.join(d, v.get("file", "export.fairshare")))
    t.check("export", out["exit_code"] == 0, f"the vector export does not verify: {out['findings'][:1]}")
    # the file's blocks, as the verifier read them
    blocks = {}
    pos = 0
    while pos < len(blob):
        n, p, _ = fs.read_varint(blob, pos)
        rec = fs.audit_pb2.ExportRecord()
        rec.ParseFromString(blob[p : p + n])
        if rec.WhichOneof("record") == "block":
            blocks[rec.block.log_index] = bytes(rec.block.block)
        pos = p + n
    code_of = {name: num for name, num in ledger_pb2.ReasonCode.items()}
    chain = b"\x00" * 32
    chain_at = {0: chain}
    signers = fs.signers_of(g)
    size = 0
    for b in v["blocks"]:
        li = b["log_index"]
        t.check("export_blocks", blocks.get(li, b"").hex() == b["block"], f"block {li}: bytes")
        envs = fs.split_block(_h(b["block"]))
        t.check("export_blocks", len(envs) == len(b["envelopes"]), f"block {li}: envelope count")
        for E, e in zip(envs, b["envelopes"]):
            t.check("export_envelopes", E.hex() == e.get("envelope", E.hex()), f"block {li}: envelope bytes")
            env = ledger_pb2.Envelope()
            env.ParseFromString(E)
            tx = ledger_pb2.Transaction()
            tx.ParseFromString(env.body)
            txid = fs.transaction_id(env.signer, env.body)
            t.check("export_envelopes", txid.hex() == e["id"], f"block {li}: id")
            t.check("export_envelopes", fs.leaf_hash(E).hex() == e["leaf_hash"], f"block {li}: leaf hash")
            t.check("export_envelopes", env.signer == e["signer"] and tx.nonce == e["nonce"], f"block {li}: signer/nonce")
            t.check("export_envelopes", ed.verify(signers[env.signer][2], env.body, env.signature), f"block {li}: signature")
            if e["verdict"] in ("applied", "rejected"):
                t.check("export_envelopes", e["leaf_index"] == size, f"block {li}: leaf index {e['leaf_index']} != {size}")
                code = 0 if e["verdict"] == "applied" else code_of[e["reason"]]
                msg = "" if e["verdict"] == "applied" else e["message"]
                chain = fs.leaf_chain_step(chain, size, txid, env.signer, tx.nonce, code, msg)
                size += 1
                chain_at[size] = chain
                t.check("leaf_chain", chain.hex() == e["leaves_digest_after"], f"leaf {size - 1}: leaves_digest_after")
        if "size_after" in b:
            t.check("export_blocks", b["size_after"] == size, f"block {li}: size_after")
    t.check("export", out["size"] == v["size"] and out["root"] == v["root"], "size/root")
    mine = {c["size"]: c for c in out["certified"]}
    for c in v["certified"]:
        m = mine.get(c["size"])
        t.check("export_certified", m is not None and m["root"] == c["root"] and m["state_digest"] == c["state_digest"]
                and m["signers"] == sorted(c["certificate"]), f"certified size {c['size']}: {m}")
        # the certified state digest against the state recomputed from the vector's entries,
        # with the leaf chain recomputed here from the export's leaves and verdicts
        sd = state_digests.get(c["size"])
        if sd is not None:
            t.check("export_state_digest", sd[0].hex() == c["state_digest"], f"size {c['size']}: certified digest is not the recomputed one")
            t.check("export_state_digest", chain_at.get(c["size"]) == sd[1], f"size {c['size']}: leaf chain")
    t.check("export", len(mine) == len(v["certified"]), "number of certified checkpoints")
    rep = _load(d, "export-report.json")
    if rep is not None:
        for k in ("ok", "exit_code", "ledger_id", "genesis_hash", "exported_from", "size", "root", "certified_size",
                  "certified_root", "certified_state_digest", "uncertified_leaves"):
            t.check("export_report", out[k] == rep[k], f"{k}: mine {out[k]!r}, report {rep[k]!r}")
        if out["state_digest"] is not None:
            t.check("export_report", out["state_digest"] == rep["state_digest"], "state_digest")
        for k, val in rep["checks"].items():
            if k in out["checks"]:
                t.check("export_report", out["checks"][k] == val, f"checks.{k}: mine {out['checks'][k]!r}, report {val!r}")
            else:
                t.skipped.append(f"export-report.json checks.{k} (not counted here)")
        t.check("export_report", len(out["findings"]) == len(rep["findings"]) and len(out["evidence"]) == len(rep["evidence"]), "findings/evidence")


def check_proofs(t, d):
    import proofs

    for name in ("inclusion-proof.json", "consistency-proof.json"):
        p = os.path.join(d, name)
        if not os.path.exists(p):
            t.skipped.append(name)
            continue
        ok, problems, counts = proofs.check_proof_file(p)
        t.check("proof_files", ok, f"{name}: {problems}")
        for k, n in counts.items():
            t.counts[f"proof_files.{k}"] = t.counts.get(f"proof_files.{k}", 0) + n
        # and a tampered copy must fail
        with open(p) as f:
            doc = json.load(f)
        doc["proof"][0] = fs.sha256(bytes.fromhex(doc["proof"][0])).hex()
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(doc, f)
        try:
            bad, _, _ = proofs.check_proof_file(f.name)
        finally:
            os.unlink(f.name)
        t.check("proof_files", not bad, f"{name}: a tampered proof checks")


def check_all(d):
    t = Tally()
    check_signatures(t, d)
    g = load_genesis(t, d)
    check_transactions(t, d, g)
    check_merkle(t, d)
    sd = check_state_digests(t, d, g)
    if g is not None:
        check_export(t, d, g, sd)
    check_proofs(t, d)
    return {"ok": not t.failures, "counts": t.counts, "checked": sum(t.counts.values()),
            "failures": t.failures, "skipped": t.skipped, "dir": d}


def print_text(res):
    print(f"vectors in {res['dir']}: {res['checked']} checks")
    for k, n in sorted(res["counts"].items()):
        print(f"    {k}: {n}")
    for s in res["skipped"]:
        print(f"  skipped: {s}")
    for f in res["failures"]:
        print(f"  FAILED {f}")
    print(("VECTORS HOLD" if res["ok"] else f"VECTORS FAIL ({len(res['failures'])})"))
