#!/usr/bin/env python3
"""Tampers with an audit export in the ways of issue 14 and checks that fairshare_verify.py
catches and locates each. Usage: tamper_test.py EXPORT_FILE [--vector-keys] [--write-dir DIR]
(--write-dir keeps each tampered file, e.g. to compare with `fairshare audit verify`)

--vector-keys: the export uses the SPEC.md vectors' genesis, whose private keys are
public (seed = SHA-256("fairshare test key " + key id)); then the checkpoints are also
re-signed by every node with a wrong state digest, which a verifier that does not
re-execute the rules cannot catch from the file alone (reported, not failed)."""

import hashlib
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fairshare_verify as fv  # noqa: E402
import fscore as fs  # noqa: E402
from fscore import audit_pb2, ledger_pb2  # noqa: E402


def read_records(data):
    out, pos = [], 0
    while pos < len(data):
        n, p, _ = fs.read_varint(data, pos)
        r = audit_pb2.ExportRecord()
        r.ParseFromString(data[p : p + n])
        out.append(r)
        pos = p + n
    return out


def write_records(recs):
    out = bytearray()
    for r in recs:
        b = r.SerializeToString()
        out += fs.encode_varint(len(b)) + b
    return bytes(out)


def frame_block(envs):
    return b"".join(b"\x0a" + fs.encode_varint(len(e)) + e for e in envs)


def first_leaf_block(recs):
    for i, r in enumerate(recs):
        if r.WhichOneof("record") == "block":
            for j, e in enumerate(fs.split_block(r.block.block)):
                env = ledger_pb2.Envelope()
                env.ParseFromString(e)
                tx = ledger_pb2.Transaction()
                tx.ParseFromString(env.body)
                if tx.WhichOneof("kind") != "checkpoint_signed":
                    return i, j
    raise SystemExit("no leaf in the export")


def run(path, blob):
    with tempfile.NamedTemporaryFile(suffix=".fsa", delete=False) as f:
        f.write(blob)
    try:
        out, _ = fv.verify_export(f.name)
    finally:
        os.unlink(f.name)
    return out


def main():
    path = sys.argv[1]
    vector_keys = "--vector-keys" in sys.argv
    data = open(path, "rb").read()
    base = read_records(data)
    cases = []

    def variant(name, expect_kind, mutate):
        recs = read_records(data)
        mutate(recs)
        cases.append((name, expect_kind, write_records(recs)))

    bi, ei = first_leaf_block(base)

    def edit_envelope(fn):
        def m(recs):
            envs = fs.split_block(recs[bi].block.block)
            envs[ei] = fn(envs[ei])
            recs[bi].block.block = frame_block(envs)
        return m

    variant("unknown field in an envelope", "non_canonical_envelope", edit_envelope(lambda e: e + b"\x20\x01"))
    variant("envelope length not in shortest form", "non_canonical_envelope",
            edit_envelope(lambda e: e[:1] + bytes([e[1] | 0x80, 0x00]) + e[2:] if e[1] < 0x80 else e[:1] + e[1:2] + bytes([e[2] | 0x80, 0x00]) + e[3:]))

    def flip_body(e):
        env = ledger_pb2.Envelope()
        env.ParseFromString(e)
        body = bytearray(env.body)
        body[-1] ^= 1
        env.body = bytes(body)
        return env.SerializeToString()

    variant("a body byte changed", "bad_envelope", edit_envelope(flip_body))

    def block_length_not_shortest(recs):
        envs = fs.split_block(recs[bi].block.block)
        e = envs[0]
        raw = b"\x0a" + fs.encode_varint(len(e)) + e
        n = fs.encode_varint(len(e))
        long = bytes([b | 0x80 for b in n]) + b"\x00"
        recs[bi].block.block = b"\x0a" + long + e + frame_block(envs[1:])
        assert raw != recs[bi].block.block[: len(raw)]

    variant("block framing: a length varint not in shortest form", "malformed_block", block_length_not_shortest)

    def swap_leaves(recs):
        for r in recs:
            if r.WhichOneof("record") != "block":
                continue
            envs = fs.split_block(r.block.block)
            leaves = []
            for k, e in enumerate(envs):
                env = ledger_pb2.Envelope()
                env.ParseFromString(e)
                tx = ledger_pb2.Transaction()
                tx.ParseFromString(env.body)
                if tx.WhichOneof("kind") != "checkpoint_signed":
                    leaves.append(k)
            if len(leaves) >= 2:
                a, b = leaves[0], leaves[1]
                envs[a], envs[b] = envs[b], envs[a]
                r.block.block = frame_block(envs)
                return
        # one envelope per block (a quiet ledger): swap two leaf blocks' bytes instead
        leafy = []
        for i, r in enumerate(recs):
            if r.WhichOneof("record") == "block":
                for e in fs.split_block(r.block.block):
                    env = ledger_pb2.Envelope()
                    env.ParseFromString(e)
                    tx = ledger_pb2.Transaction()
                    tx.ParseFromString(env.body)
                    if tx.WhichOneof("kind") != "checkpoint_signed":
                        leafy.append(i)
                        break
        a, b = leafy[0], leafy[1]
        recs[a].block.block, recs[b].block.block = recs[b].block.block, recs[a].block.block

    variant("two leaves swapped", "history_altered", swap_leaves)

    def kinds_of(block_bytes):
        out = []
        for e in fs.split_block(block_bytes):
            env = ledger_pb2.Envelope()
            env.ParseFromString(e)
            tx = ledger_pb2.Transaction()
            tx.ParseFromString(env.body)
            out.append(tx)
        return out

    def merge_blocks(recs):
        # a block with leaves, then a block with statements for that size and more leaves
        # after them: merged, the signed size is reached inside a block and is no head
        blocks = [i for i, r in enumerate(recs) if r.WhichOneof("record") == "block"]
        for a, b in zip(blocks, blocks[1:]):
            ka, kb = kinds_of(recs[a].block.block), kinds_of(recs[b].block.block)
            a_leaves = any(t.WhichOneof("kind") != "checkpoint_signed" for t in ka)
            b_statements = [k for k, t in enumerate(kb) if t.WhichOneof("kind") == "checkpoint_signed"]
            b_leaf_after = any(t.WhichOneof("kind") != "checkpoint_signed" for t in kb[b_statements[0]:]) if b_statements else False
            if a_leaves and b_statements and b_leaf_after:
                recs[a].block.block = bytes(recs[a].block.block) + bytes(recs[b].block.block)
                del recs[b]
                recs[-1].trailer.blocks -= 1
                return True
        return False

    if merge_blocks(read_records(data)):
        variant("blocks merged: a signed size is no block boundary", "blocks_recut", merge_blocks)
    else:
        print("  (blocks merged: not applicable, no block holds statements followed by leaves)")

    def drop_last_block(recs):
        idx = max(i for i, r in enumerate(recs) if r.WhichOneof("record") == "block")
        del recs[idx]

    variant("tail cut at a block boundary, trailer kept", "trailer_mismatch", drop_last_block)

    def drop_trailer(recs):
        del recs[-1]

    variant("trailer dropped", "truncated", drop_trailer)

    def blocks_reordered(recs):
        blocks = [i for i, r in enumerate(recs) if r.WhichOneof("record") == "block"]
        a, b = blocks[0], blocks[1]
        recs[a].block.log_index, recs[b].block.log_index = recs[b].block.log_index, recs[a].block.log_index

    variant("log indexes out of order", "blocks_out_of_order", blocks_reordered)

    def bad_genesis_hash(recs):
        h = bytearray(recs[0].header.genesis_hash)
        h[0] ^= 1
        recs[0].header.genesis_hash = bytes(h)

    variant("genesis hash altered", "bad_genesis", bad_genesis_hash)

    def cut_and_rewrite(recs):
        blocks = [i for i, r in enumerate(recs) if r.WhichOneof("record") == "block"]
        del recs[blocks[-1]]
        t = recs[-1].trailer
        t.blocks = len(blocks) - 1
        t.ClearField("newest_certified")
        del t.certificate[:]
        t.certified_size = 0
        t.size = 0
        t.root = fs.EMPTY_ROOT

    recs = read_records(data)
    cut_and_rewrite(recs)
    cut_blob = write_records(recs)
    if "--write-dir" in sys.argv:
        d = sys.argv[sys.argv.index("--write-dir") + 1]
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "90-cut-and-rewritten.fsa"), "wb").write(cut_blob)
    out = run(path, cut_blob)
    print(f"  tail cut at a block boundary, trailer rewritten: exit {out['exit_code']} (expected 0: only a comparison "
          "with the nodes' certified heads, SPEC.md 12.3, can see it)")

    write_dir = None
    if "--write-dir" in sys.argv:
        write_dir = sys.argv[sys.argv.index("--write-dir") + 1]
        os.makedirs(write_dir, exist_ok=True)
    failed = 0
    for n, (name, kind, blob) in enumerate(cases):
        if write_dir:
            with open(os.path.join(write_dir, f"{n:02d}-{kind}.fsa"), "wb") as f:
                f.write(blob)
        out = run(path, blob)
        kinds = [f["kind"] for f in out["findings"]]
        ok = out["exit_code"] == 1 and kind in kinds
        first = out["findings"][0] if out["findings"] else None
        loc = f"log index {first['log_index']}, envelope {first['envelope']}: {first['what'][:100]}" if first else "-"
        print(f"  {'caught' if ok else 'MISSED'}: {name}: exit {out['exit_code']}, {kinds[:3]} ({loc})")
        failed += not ok

    if vector_keys:
        # Every node re-signs every checkpoint with a wrong state digest.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        def key(kid):
            return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"fairshare test key " + kid.encode()).digest())

        recs = read_records(data)
        for r in recs:
            if r.WhichOneof("record") != "block":
                continue
            envs = fs.split_block(r.block.block)
            for k, e in enumerate(envs):
                env = ledger_pb2.Envelope()
                env.ParseFromString(e)
                tx = ledger_pb2.Transaction()
                tx.ParseFromString(env.body)
                if tx.WhichOneof("kind") == "checkpoint_signed":
                    tx.checkpoint_signed.checkpoint.state_digest = hashlib.sha256(b"fake" + bytes(tx.checkpoint_signed.checkpoint.state_digest)).digest()
                    env.body = tx.SerializeToString(deterministic=True)
                    env.signature = key(env.signer).sign(env.body)
                    envs[k] = env.SerializeToString(deterministic=True)
            r.block.block = frame_block(envs)
        for r in recs:
            if r.WhichOneof("record") == "trailer" and r.trailer.HasField("newest_certified"):
                c = r.trailer.newest_certified
                c.state_digest = hashlib.sha256(b"fake" + bytes(c.state_digest)).digest()
                for env in r.trailer.certificate:
                    tx = ledger_pb2.Transaction()
                    tx.ParseFromString(env.body)
                    tx.checkpoint_signed.checkpoint.CopyFrom(c)
                    env.body = tx.SerializeToString(deterministic=True)
                    env.signature = key(env.signer).sign(env.body)
        blob = write_records(recs)
        if "--write-dir" in sys.argv:
            d = sys.argv[sys.argv.index("--write-dir") + 1]
            open(os.path.join(d, "91-wrong-state-digest.fsa"), "wb").write(blob)
        out = run(path, blob)
        print(f"  all checkpoints re-signed with a wrong state digest: exit {out['exit_code']} "
              f"(the file alone cannot show it without re-executing the rules; --vectors compares the "
              f"certified digests with the vectors' recomputed states)")
    if vector_keys:
        # The first leaf re-signed by its own key with R = [r]B + T, T of order 8: valid by
        # SPEC.md 5.1 (cofactored), refused by cryptography. The envelope must verify (exact
        # rule), while its new bytes change the leaf: the certified root no longer matches.
        import ed25519_rule as ed

        recs = read_records(data)
        envs = fs.split_block(recs[bi].block.block)
        env = ledger_pb2.Envelope()
        env.ParseFromString(envs[ei])
        seed = hashlib.sha256(b"fairshare test key " + env.signer.encode()).digest()
        hh = hashlib.sha512(seed).digest()
        a = int.from_bytes(hh[:32], "little")
        a &= (1 << 254) - 8
        a |= 1 << 254
        A = ed.encode_point(ed._mul(a, ed.BASE))
        # a point of order 8 (the R of signatures.json's small_order_r)
        t8 = ed.decode_point(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
        assert not ed._is_identity(ed._mul(4, t8)) and ed._is_identity(ed._mul(8, t8))
        r = int.from_bytes(hashlib.sha512(b"mixed" + bytes(env.body)).digest(), "little") % ed.L
        R = ed.encode_point(ed._add(ed._mul(r, ed.BASE), t8))
        k = int.from_bytes(hashlib.sha512(R + A + bytes(env.body)).digest(), "little") % ed.L
        S = (r + k * a) % ed.L
        env.signature = R + S.to_bytes(32, "little")
        assert ed.verify(A, env.body, env.signature)
        envs[ei] = env.SerializeToString()
        recs[bi].block.block = frame_block(envs)
        blob = write_records(recs)
        if "--write-dir" in sys.argv:
            d = sys.argv[sys.argv.index("--write-dir") + 1]
            open(os.path.join(d, "92-mixed-order-r.fsa"), "wb").write(blob)
        out = run(path, blob)
        kinds = [f["kind"] for f in out["findings"]]
        ok = "bad_envelope" not in kinds and out["checks"]["signatures_exact_rule"] >= 1 and "history_altered" in kinds
        print(f"  {'ok' if ok else 'WRONG'}: an envelope re-signed with a mixed-order R: no bad_envelope, "
              f"{out['checks']['signatures_exact_rule']} signature(s) accepted by the exact rule after cryptography "
              f"refused, and the changed bytes found: {kinds[:2]}")
        failed += not ok
    print(f"{len(cases) - failed} of {len(cases)} tamperings caught")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
