"""Proof files (SPEC.md section 13): inclusion and consistency proofs, checked offline."""

import json

import fscore as fs
from fscore import ledger_pb2


def _h(x):
    return bytes.fromhex(x)


def check_proof_file(path, pinned_genesis_hash=None):
    """Returns (ok: bool, problems: [str], counts: dict)."""
    import fairshare_verify as fv

    with open(path, "rb") as f:
        d = json.load(f)
    problems = []
    counts = {"certificates": 0, "certificate_signatures": 0, "signatures": 0, "proof_hashes": 0}
    fmt = d.get("format")
    if fmt not in ("fairshare-inclusion-proof/1", "fairshare-consistency-proof/1"):
        return False, [f"unknown format {fmt!r}"], counts
    G = _h(d["genesis"])
    g, canonical, err = fs.decode_canonical(ledger_pb2.Genesis, G)
    if g is None or not canonical:
        return False, [f"genesis is not a canonical Genesis: {err}"], counts
    probs = fs.genesis_problems(g)
    if probs:
        return False, ["genesis: " + "; ".join(probs)], counts
    gh = fs.sha256(G)
    if gh.hex() != d["genesis_hash"].lower():
        problems.append(f"genesis_hash {d['genesis_hash']} but the genesis hashes to {gh.hex()}")
    if pinned_genesis_hash is not None and gh != pinned_genesis_hash:
        problems.append("genesis is not the pinned one")
    if d.get("ledger_id") != g.ledger_id:
        problems.append(f"ledger_id {d.get('ledger_id')!r} is not genesis' {g.ledger_id!r}")

    v = fv.ExportVerifier(fv.Report())
    v.genesis, v.genesis_hash = g, gh
    v.signers = fs.signers_of(g)
    v.quorum = fs.quorum(len(g.insurers))

    def certified(c, what):
        cp = ledger_pb2.Checkpoint(ledger_id=g.ledger_id, size=int(c["size"]), root=_h(c["root"]),
                                   state_digest=_h(c["state_digest"]))
        envs = [ledger_pb2.Envelope(signer=s["signer"], body=_h(s["body"]), signature=_h(s["signature"]))
                for s in c["certificate"]]
        for i, s in enumerate(c["certificate"]):
            shown = s.get("checkpoint")
            if shown is not None:
                tx = ledger_pb2.Transaction()
                tx.ParseFromString(_h(s["body"]))
                k = tx.checkpoint_signed.checkpoint
                if (int(shown["size"]), shown["root"], shown["state_digest"]) != (k.size, k.root.hex(), k.state_digest.hex()):
                    problems.append(f"{what}: statement {i}'s `checkpoint` is not what its body says")
        nodes, probs = v.check_certificate(cp, envs, what)
        counts["certificates"] += 1
        counts["certificate_signatures"] += len(envs) - len(probs)
        if len(nodes) < v.quorum:
            problems.append(f"{what}: {len(nodes)} valid statements of distinct nodes, quorum {v.quorum}: " + "; ".join(probs))
        return cp

    if fmt == "fairshare-inclusion-proof/1":
        cp = certified(d["checkpoint"], "checkpoint")
        e = d["envelope"]
        env = ledger_pb2.Envelope(signer=e["signer"], body=_h(e["body"]), signature=_h(e["signature"]))
        E = fs.canonical_bytes(env)
        _, tx, txid, refusal = v.check_envelope(E, "envelope")
        counts["signatures"] += 1
        if refusal is not None:
            problems.append(f"envelope refused: {refusal[1]}")
        if txid is None or txid.hex() != d["transaction_id"].lower():
            problems.append(f"transaction_id {d['transaction_id']} is not the envelope's id")
        lh = fs.leaf_hash(E)
        if lh.hex() != d["leaf_hash"].lower():
            problems.append("leaf_hash is not SHA-256(00 || E)")
        proof = [_h(x) for x in d["proof"]]
        counts["proof_hashes"] += len(proof)
        if not fs.verify_inclusion(int(d["leaf_index"]), cp.size, lh, proof, cp.root):
            problems.append(f"the audit path does not lead from leaf {d['leaf_index']} to the root at size {cp.size}")
    else:
        old = certified(d["old"], "old")
        new = certified(d["new"], "new")
        proof = [_h(x) for x in d["proof"]]
        counts["proof_hashes"] += len(proof)
        if not fs.verify_consistency(old.size, new.size, old.root, new.root, proof):
            problems.append(f"the proof does not show size {new.size} extends size {old.size}")
    return not problems, problems, counts
