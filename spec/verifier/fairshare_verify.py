#!/usr/bin/env python3
"""An independent verifier of fairshare audit exports, written from SPEC.md and the
.proto files alone (issue 14's acceptance test of the specification).

Usage: fairshare_verify.py EXPORT_FILE [--json] [--vectors DIR] [--genesis-hash HEX]

Exit codes (SPEC.md 12.1): 0 verified, 1 does not verify, 2 could not verify,
3 evidence only. See README.md beside this file for what is and is not checked.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fscore as fs  # noqa: E402
from ed25519_rule import Verifier  # noqa: E402
from fscore import audit_pb2, ledger_pb2  # noqa: E402

CHECKPOINT_INTERVAL = 1024  # SPEC.md 9.1
TRANSACTION_BYTES_MAX = 65536  # SPEC.md 4
BLOCK_TRANSACTIONS_MAX = 1024  # SPEC.md 7.1

R = ledger_pb2.ReasonCode


class Report:
    def __init__(self):
        self.findings = []
        self.evidence = []
        self.warnings = []
        self.could_not = []
        self.checks = {
            "genesis": False,
            "genesis_pinned": None,
            "blocks": 0,
            "envelopes": 0,
            "envelopes_canonical": 0,
            "transaction_ids": 0,
            "signatures_verified": 0,
            "signatures_fast_path": 0,
            "signatures_exact_rule": 0,
            "refused": 0,
            "leaves": 0,
            "leaf_hashes": 0,
            "duplicates": 0,
            "checkpoint_statements": 0,
            "checkpoint_statements_matching": 0,
            "checkpoint_statements_ignored": 0,
            "heads_recorded": 0,
            "heads_named": 0,
            "roots_computed": 0,
            "certified_checkpoints": 0,
            "certificate_signatures": 0,
            "trailer": False,
            "trailer_certificate": None,
        }

    def finding(self, kind, what, log_index=None, envelope=None, leaf=None, txid=None, **extra):
        f = {
            "kind": kind,
            "log_index": log_index,
            "envelope": envelope,
            "leaf": leaf,
            "transaction_id": txid.hex() if isinstance(txid, (bytes, bytearray)) else txid,
            "what": what,
        }
        f.update(extra)
        self.findings.append(f)


class ExportVerifier:
    def __init__(self, report, pinned_genesis_hash=None):
        self.r = report
        self.pinned = pinned_genesis_hash
        self.sig = Verifier()
        self.log = fs.MerkleLog()
        self.leaf_ids = {}
        self.heads = {}  # size -> root, live heads (dropped when settled)
        self.ever_heads = {}  # size -> root, every head ever recorded
        self.kept = {}  # (node, size) -> (root, digest)
        self.certified = {}  # size -> {"root", "state_digest", "nodes"}
        self.newest_certified = 0
        self.all_statements = {}  # size -> {(root, digest): set(nodes)}
        self.named_heads = set()  # sizes of heads that a kept statement names
        self.block_sizes = []  # (size before, size after, log index) of every block
        self.statement_at = {}  # (size, root) -> (log index, node) of the first statement naming it
        self.pending_up_to = []  # (finding position, size): range end resolved after the last block
        self.altered = set()  # (size, root) that a quorum certifies and the file does not reproduce
        self.genesis = None
        self.genesis_hash = None
        self.exported_from = None
        self.format_version = None
        self.signers = {}
        self.quorum = None

    # ------------------------------------------------------------ envelopes (7.2 step 1)

    def check_envelope(self, e_bytes, where):
        """Returns (envelope, transaction, txid, refusal or None)."""
        env, env_canonical, err = fs.decode_canonical(ledger_pb2.Envelope, e_bytes)
        if env is None:
            return None, None, None, (R.MALFORMED_TRANSACTION, f"envelope {err}")
        if not env_canonical:
            # SPEC.md 7.2 step 1: MALFORMED_TRANSACTION whatever else is wrong with it
            return env, None, None, (
                R.MALFORMED_TRANSACTION,
                "envelope bytes are not the canonical encoding (SPEC.md 3): re-encoded they are "
                f"{len(fs.canonical_bytes(env))} bytes, in the block {len(e_bytes)}",
            )
        if len(env.body) > TRANSACTION_BYTES_MAX:
            return env, None, None, (R.LIMIT_EXCEEDED, f"body of {len(env.body)} bytes")
        tx, body_canonical, err = fs.decode_canonical(ledger_pb2.Transaction, env.body)
        if tx is None:
            return env, None, None, (R.MALFORMED_TRANSACTION, f"body {err}")
        if not body_canonical:
            return env, tx, None, (R.MALFORMED_TRANSACTION, "body is not the canonical encoding of a Transaction (SPEC.md 3)")
        self.r.checks["envelopes_canonical"] += 1
        txid = fs.transaction_id(env.signer, env.body)
        self.r.checks["transaction_ids"] += 1
        if tx.WhichOneof("kind") is None:
            return env, tx, txid, (R.MALFORMED_TRANSACTION, "transaction has no kind")
        if tx.ledger_id != self.genesis.ledger_id:
            return env, tx, txid, (R.WRONG_LEDGER, f"ledger {tx.ledger_id!r}, not {self.genesis.ledger_id!r}")
        signer = self.signers.get(env.signer)
        if signer is None:
            return env, tx, txid, (R.UNKNOWN_SIGNER, f"signer {env.signer!r} is no key of genesis")
        if len(env.signature) != 64 or not self.sig.verify(signer[2], env.body, env.signature):
            return env, tx, txid, (R.BAD_SIGNATURE, f"signature by {env.signer!r} does not verify (SPEC.md 5.1)")
        self.r.checks["signatures_verified"] += 1
        return env, tx, txid, None

    # ------------------------------------------------------------ heads (9.1)

    def record_head(self, size):
        if size in self.heads or size <= self.newest_certified and size not in self.certified:
            return
        root = self.log.root(size)
        self.r.checks["roots_computed"] += 1
        self.heads[size] = root
        self.ever_heads[size] = root
        self.r.checks["heads_recorded"] += 1

    # ------------------------------------------------------------ statements (9.3)

    def quorum_formed(self, size, value, nodes, log_index):
        """A quorum of authentic statements names (size, root, digest): if the log in the
        file does not reproduce it (another root, a size the log has not reached, a size
        that is no head), the history was altered or the blocks re-cut."""
        root = value[0]
        have = len(self.log)
        who = ", ".join(sorted(nodes))
        # the range (SPEC.md 11.4 step 4): from the first block after the last signed size where
        # the log agrees with a signed checkpoint, up to the block where this quorum forms
        agree = max([s for s, groups in self.all_statements.items()
                     if s < size and s <= have and any(rt == self.log.root(s) for rt, _ in groups)] or [0])
        start = log_index
        if self.block_sizes:
            start = self.block_sizes[0][2]
            if agree > 0:
                k = next((k for k, (_, after, _) in enumerate(self.block_sizes) if after >= agree), None)
                if k is not None and k + 1 < len(self.block_sizes):
                    start = self.block_sizes[k + 1][2]
        # ... to the block in which the file's log reaches the disagreeing size (or the
        # quorum's block, when the log has not reached it)
        up_to = next((li for (_, after, li) in self.block_sizes if after >= size), log_index)
        if size > have or self.log.root(size) != root:
            self.altered.add((size, root))
        self.pending_up_to.append((len(self.r.findings), size))
        if size > have:
            self.r.finding("history_altered", f"{len(nodes)} nodes ({who}) certify size {size}, but the log up to here "
                           f"has only {have} leaves", log_index=start, up_to_log_index=up_to)
        elif self.log.root(size) != root:
            self.r.finding("history_altered", f"{len(nodes)} nodes ({who}) certify root {root.hex()} at size {size}; "
                           f"the log in the file has {self.log.root(size).hex()} there; the altered entry lies in the "
                           f"blocks from log index {start} (after the last agreeing signed size {agree}) to {up_to}",
                           log_index=start, up_to_log_index=up_to)

    def statement(self, env, tx, where, log_index=None):
        r = self.r
        r.checks["checkpoint_statements"] += 1
        role, node, _ = self.signers[env.signer]
        cs = tx.checkpoint_signed
        if role != "node" or cs.node != node:
            r.checks["checkpoint_statements_ignored"] += 1
            r.warnings.append(f"{where}: statement by {env.signer!r} for node {cs.node!r} ignored (SIGNER_NOT_AUTHORISED)")
            return
        if not cs.HasField("checkpoint"):
            r.checks["checkpoint_statements_ignored"] += 1
            r.warnings.append(f"{where}: statement without checkpoint ignored (MALFORMED_TRANSACTION)")
            return
        c = cs.checkpoint
        if c.ledger_id != self.genesis.ledger_id or len(c.root) != 32 or len(c.state_digest) != 32:
            r.checks["checkpoint_statements_ignored"] += 1
            r.warnings.append(f"{where}: malformed checkpoint ignored (MALFORMED_TRANSACTION)")
            return
        size, value = c.size, (bytes(c.root), bytes(c.state_digest))
        self.statement_at.setdefault((size, value[0]), (log_index, node))
        group = self.all_statements.setdefault(size, {}).setdefault(value, set())
        group.add(node)
        if len(group) == self.quorum:
            self.quorum_formed(size, value, group, log_index)
        prev = self.kept.get((node, size))
        if prev is not None:
            if prev == value:
                r.checks["checkpoint_statements_ignored"] += 1  # ALREADY_SIGNED
                return
            r.evidence.append({
                "node": node, "size": size, "kind": "conflicting_statements",
                "what": f"{where}: node {node} signed two different checkpoints for size {size}",
            })
            return
        if size not in self.heads and size not in self.certified:
            r.checks["checkpoint_statements_ignored"] += 1  # UNKNOWN_CHECKPOINT
            return
        self.kept[(node, size)] = value
        self.named_heads.add(size)
        head_root = self.heads.get(size, self.certified.get(size, {}).get("root"))
        if value[0] != head_root:
            r.evidence.append({
                "node": node, "size": size, "kind": "contradicts_certified_log", "root": value[0],
                "what": f"{where}: node {node} signed root {value[0].hex()} for size {size}; "
                        f"the log's root there is {head_root.hex()}",
            })
            return
        cert = self.certified.get(size)
        if cert is not None:
            if value[1] == cert["state_digest"]:
                cert["nodes"].add(node)
                r.checks["checkpoint_statements_matching"] += 1
            else:
                r.evidence.append({
                    "node": node, "size": size, "kind": "contradicts_certified_log",
                    "what": f"{where}: node {node} signed state digest {value[1].hex()} for size {size}, "
                            f"the certified one is {cert['state_digest'].hex()}",
                })
            return
        # Not certified yet: the head's state digest is unknown to a verifier that does not
        # re-execute the rules, so a quorum agreeing on (root == ours, digest) stands for it.
        r.checks["checkpoint_statements_matching"] += 1
        nodes = {n for (n, s), v in self.kept.items() if s == size and v == value}
        if len(nodes) >= self.quorum and size > self.newest_certified:
            self.certified[size] = {"root": value[0], "state_digest": value[1], "nodes": nodes}
            self.newest_certified = size
            r.checks["certified_checkpoints"] += 1
            for s in [s for s in self.heads if s < size]:
                del self.heads[s]
            for key in [k for k in self.kept if k[1] < size and k[1] not in self.certified]:
                del self.kept[key]
            # Statements at this size with another digest now contradict the head.
            for (n, s), v in self.kept.items():
                if s == size and v[0] == value[0] and v[1] != value[1]:
                    r.evidence.append({
                        "node": n, "size": size, "kind": "contradicts_certified_log",
                        "what": f"node {n} signed state digest {v[1].hex()} for size {size}; "
                                f"a quorum certified {value[1].hex()}",
                    })

    # ------------------------------------------------------------ offline certificate (9.3)

    def check_certificate(self, checkpoint, envelopes, what):
        # signatures outside the blocks are counted apart (certificate_signatures), not in
        # signatures_verified, which export-report.json counts for the blocks only
        saved = self.r.checks["signatures_verified"], self.r.checks["envelopes_canonical"], self.r.checks["transaction_ids"]
        try:
            return self._check_certificate(checkpoint, envelopes, what)
        finally:
            (self.r.checks["signatures_verified"], self.r.checks["envelopes_canonical"],
             self.r.checks["transaction_ids"]) = saved

    def _check_certificate(self, checkpoint, envelopes, what):
        nodes = set()
        problems = []
        want = (checkpoint.ledger_id, checkpoint.size, bytes(checkpoint.root), bytes(checkpoint.state_digest))
        for i, env in enumerate(envelopes):
            e_bytes = fs.canonical_bytes(env)
            env2, tx, txid, refusal = self.check_envelope(e_bytes, f"{what} statement {i}")
            if refusal is not None:
                problems.append(f"statement {i}: {refusal[1]}")
                continue
            self.r.checks["certificate_signatures"] += 1
            role, node, _ = self.signers[env2.signer]
            if tx.WhichOneof("kind") != "checkpoint_signed" or role != "node" or tx.checkpoint_signed.node != node:
                problems.append(f"statement {i}: not a CheckpointSigned by the node key of its node")
                continue
            c = tx.checkpoint_signed.checkpoint
            if (c.ledger_id, c.size, bytes(c.root), bytes(c.state_digest)) != want:
                problems.append(f"statement {i}: signs another checkpoint (size {c.size})")
                continue
            nodes.add(node)
        return nodes, problems

    # ------------------------------------------------------------ the file (11.4)

    def run(self, data):
        r = self.r
        records = []
        pos = 0
        while pos < len(data):
            try:
                n, npos, _ = fs.read_varint(data, pos)
            except ValueError as e:
                r.finding("damaged_file", f"byte {pos}: bad record length: {e}")
                return
            if npos + n > len(data):
                r.finding("truncated", f"byte {pos}: a record of {n} bytes runs past the end of the file")
                return
            rec = audit_pb2.ExportRecord()
            try:
                rec.ParseFromString(data[npos : npos + n])
            except Exception as e:  # noqa: BLE001
                r.finding("damaged_file", f"byte {pos}: record does not decode: {e}")
                return
            records.append((pos, rec, data[npos : npos + n]))
            pos = npos + n
        if not records or records[0][1].WhichOneof("record") != "header":
            r.finding("damaged_file", "the file does not start with a header record")
            return
        header = records[0][1].header
        if header.format_version not in (1, 2):
            r.finding("unsupported_format", f"format_version {header.format_version}")
            r.could_not.append("unsupported format")
            return
        self.exported_from = header.exported_from
        self.format_version = header.format_version
        self.check_genesis(header, records[0][2])
        if self.genesis is None:
            return
        if header.from_log_index != 0:
            r.could_not.append(f"a partial export (from_log_index {header.from_log_index}): cannot be re-executed")
        trailer = None
        last_index = None
        for i, (fpos, rec, _) in enumerate(records[1:], start=1):
            kind = rec.WhichOneof("record")
            if kind == "trailer":
                if i != len(records) - 1:
                    r.finding("damaged_file", f"byte {fpos}: a trailer followed by {len(records) - 1 - i} more records")
                trailer = rec.trailer
                break
            if kind != "block":
                r.finding("damaged_file", f"byte {fpos}: record {i} is a {kind}, not a block")
                return
            b = rec.block
            if last_index is not None and b.log_index <= last_index:
                r.finding("blocks_out_of_order", f"log index {b.log_index} after {last_index}", log_index=b.log_index)
            last_index = b.log_index
            self.block(b.log_index, bytes(b.block))
        if trailer is None:
            r.finding("truncated", "the file ends without a trailer", log_index=last_index)
        else:
            self.check_trailer(trailer, header.format_version)
        self.final_checks()

    def check_genesis(self, header, header_record_bytes):
        r = self.r
        g = header.genesis
        if not header.HasField("genesis"):
            r.finding("bad_genesis", "the header has no genesis")
            return
        probs = fs.genesis_problems(g)
        G = fs.canonical_bytes(g)
        h = fs.sha256(G)
        # The genesis bytes as they stand in the file (SPEC.md 6.4 speaks of the decoded
        # message; we also note when the bytes themselves are not canonical).
        try:
            hdr = [v for f, w, v in fs.raw_fields(header_record_bytes) if f == 1][-1]
            graw = [v for f, w, v in fs.raw_fields(hdr) if f == 2][-1]
            if bytes(graw) != G:
                r.warnings.append("the header's genesis bytes are not its canonical encoding; hashed the canonical encoding")
        except (ValueError, IndexError):
            pass
        if probs:
            r.finding("bad_genesis", "genesis is not canonical or not valid: " + "; ".join(probs))
            return
        if bytes(header.genesis_hash) != h:
            r.finding("bad_genesis", f"genesis_hash {bytes(header.genesis_hash).hex()} but SHA-256 of the canonical genesis is {h.hex()}")
            return
        r.checks["genesis"] = True
        if self.pinned is not None:
            ok = self.pinned == h
            r.checks["genesis_pinned"] = ok
            if not ok:
                r.finding("genesis_not_pinned", f"genesis hash {h.hex()} is not the pinned {self.pinned.hex()}")
        self.genesis = g
        self.genesis_hash = h
        self.signers = fs.signers_of(g)
        self.quorum = fs.quorum(len(g.insurers))

    def block(self, log_index, block_bytes):
        r = self.r
        r.checks["blocks"] += 1
        try:
            envs = fs.split_block(block_bytes)
            for k, e in enumerate(envs):
                if fs.decode_canonical(ledger_pb2.Envelope, e)[0] is None:
                    raise ValueError(f"record {k} does not decode as an Envelope")
        except ValueError as e:
            # SPEC.md 7.1: a malformed block; nodes apply it as an empty block
            r.finding("malformed_block", f"block read strictly (SPEC.md 7.1): {e}; none of its envelopes is applied",
                      log_index=log_index)
            self.block_sizes.append((len(self.log), len(self.log), log_index))
            return
        if len(envs) > BLOCK_TRANSACTIONS_MAX:
            r.finding("malformed_block", f"block of {len(envs)} envelopes, more than {BLOCK_TRANSACTIONS_MAX}",
                      log_index=log_index)
        start_size = len(self.log)
        for pos, e_bytes in enumerate(envs):
            r.checks["envelopes"] += 1
            where = f"log index {log_index}, envelope {pos}"
            env, tx, txid, refusal = self.check_envelope(e_bytes, where)
            if refusal is not None:
                r.checks["refused"] += 1
                code, what = refusal
                kind = "non_canonical_envelope" if what.startswith("envelope bytes are not") else "bad_envelope"
                r.finding(kind, f"refused {R.Name(code)}: {what}", log_index=log_index,
                          envelope=pos, txid=txid, signer=env.signer if env is not None else None)
                continue
            if tx.WhichOneof("kind") == "checkpoint_signed":
                self.statement(env, tx, where, log_index)
                continue
            if txid in self.leaf_ids:
                r.checks["duplicates"] += 1
                continue
            index = len(self.log)
            self.log.append(fs.leaf_hash(e_bytes))
            self.leaf_ids[txid] = index
            r.checks["leaves"] += 1
            r.checks["leaf_hashes"] += 1
            if len(self.log) % CHECKPOINT_INTERVAL == 0:
                self.record_head(len(self.log))
        if len(self.log) > start_size:
            self.record_head(len(self.log))
        self.block_sizes.append((start_size, len(self.log), log_index))

    def check_trailer(self, t, version):
        r = self.r
        last = self.block_sizes[-1][2] if self.block_sizes else None
        n_before = len(r.findings)
        size = len(self.log)
        bad = []
        if t.blocks != r.checks["blocks"]:
            bad.append(f"blocks {t.blocks}, the file has {r.checks['blocks']}")
        if t.size > size:
            bad.append(f"size {t.size}, the log in the file has {size} leaves")
        elif bytes(t.root) != self.log.root(t.size):
            bad.append(f"root {bytes(t.root).hex()} is not the log's root at size {t.size}")
        if version >= 2 and t.HasField("newest_certified"):
            c = t.newest_certified
            if c.size != t.certified_size:
                bad.append(f"certified_size {t.certified_size} but newest_certified names size {c.size}")
            nodes, problems = self.check_certificate(c, list(t.certificate), "trailer certificate")
            if len(nodes) < self.quorum:
                r.finding("unproven_certificate", f"the trailer's certificate of size {c.size} has {len(nodes)} valid "
                          f"statements of distinct nodes, quorum is {self.quorum}" + ("; " + "; ".join(problems) if problems else ""))
                r.checks["trailer_certificate"] = False
            else:
                r.checks["trailer_certificate"] = True
                for p in problems:
                    r.warnings.append(f"trailer certificate: {p}")
            if c.ledger_id != self.genesis.ledger_id:
                bad.append(f"newest_certified is of ledger {c.ledger_id!r}")
            if c.size > size:
                r.finding("export_short", f"the trailer's certified checkpoint is at size {c.size}, beyond the {size} "
                          "leaves of the file: the export stops before a checkpoint it proves certified (a withheld tail)")
            elif bytes(c.root) != self.log.root(c.size):
                r.finding("contradicts_certified", f"the trailer's certified root at size {c.size} is not the log's root there")
            else:
                cert = self.certified.get(c.size)
                if cert is not None and cert["state_digest"] != bytes(c.state_digest):
                    r.finding("contradicts_certified", f"the trailer's certified state digest at size {c.size} differs from "
                              "the certificate inside the blocks")
                if r.checks["trailer_certificate"] and c.size > self.newest_certified:
                    r.warnings.append(f"the trailer certifies size {c.size}, newer than any certificate inside the blocks ({self.newest_certified})")
        elif version >= 2 and t.certified_size:
            bad.append(f"certified_size {t.certified_size} without newest_certified")
        if t.certified_size and t.certified_size < self.newest_certified and not (version >= 2 and t.HasField("newest_certified")):
            bad.append(f"certified_size {t.certified_size} older than the log's certified {self.newest_certified}")
        if t.certified_size > self.newest_certified:
            r.finding("certificate_short", f"the trailer claims size {t.certified_size} certified; the statements in the "
                      f"file certify up to {self.newest_certified}", log_index=self.block_sizes[-1][2] if self.block_sizes else None)
        if bad:
            r.finding("trailer_mismatch", "trailer: " + "; ".join(bad))
        else:
            r.checks["trailer"] = True
        for f in r.findings[n_before:]:
            if f["log_index"] is None:
                f["log_index"] = last  # the trailer follows the last block

    def final_checks(self):
        """A quorum of authentic statements for a checkpoint the re-executed log does not
        reproduce (or at a size that is not a head) is history altered / blocks re-cut."""
        r = self.r
        size = len(self.log)
        for s, groups in sorted(self.all_statements.items()):
            cert = self.certified.get(s)
            for (root, digest), nodes in groups.items():
                if len(nodes) >= self.quorum and cert is not None and cert["root"] == root and cert["state_digest"] != digest:
                    r.finding("history_altered", f"a quorum signed state digest {digest.hex()} at size {s}; "
                              f"another quorum certified {cert['state_digest'].hex()}")
        # SPEC.md 12.2 blocks_recut: a signed size that is no block boundary of this log
        # although its root is
        for (s_, root), (li, node) in sorted(self.statement_at.items(), key=lambda x: x[1][0] or 0):
            if s_ <= size and s_ not in self.ever_heads and self.log.root(s_) == root:
                r.finding("blocks_recut", f"node {node} signed size {s_} with the log's root there, but {s_} is no "
                          "head of the log in the file (not a block end, not a multiple of 1024): blocks were split or merged",
                          log_index=li)
        # SPEC.md 12.2 uncertified_disagreement: at a size no quorum certified, a node's
        # signed root differs from the re-executed head
        keep = []
        for e in r.evidence:
            if (e["kind"] == "contradicts_certified_log" and e["size"] not in self.certified
                    and (e["size"], e.get("root")) not in self.altered):
                r.finding("uncertified_disagreement", e["what"] + " (no quorum certified that size)",
                          log_index=self.statement_at.get((e["size"], e.get("root")), (None,))[0], node=e["node"])
            else:
                keep.append(e)
        r.evidence = keep
        for pos, sz in self.pending_up_to:
            if pos < len(r.findings) and r.findings[pos]["kind"] == "history_altered":
                up = next((li for (_, after, li) in self.block_sizes if after >= sz), None)
                if up is None and self.block_sizes:
                    up = self.block_sizes[-1][2]
                r.findings[pos]["up_to_log_index"] = up
        r.checks["heads_named"] = len(self.named_heads)
        # earliest first (SPEC.md 12.2); header findings (no log index) before all blocks
        r.findings.sort(key=lambda f: -1 if f["log_index"] is None else f["log_index"])
        # statements that a quorum shares belong to the history_altered finding (the file is
        # wrong, not those nodes): not evidence
        r.evidence = [e for e in r.evidence if (e["size"], e.get("root")) not in self.altered]
        r.checks["signatures_fast_path"] = self.sig.fast_accepted
        r.checks["signatures_exact_rule"] = self.sig.fallback_accepted

    def summary(self):
        r = self.r
        size = len(self.log)
        c = self.certified.get(self.newest_certified)
        exit_code = 0
        if r.findings:
            exit_code = 1
        elif r.could_not:
            exit_code = 2
        elif r.evidence:
            exit_code = 3
        out = {
            "ok": exit_code == 0,
            "exit_code": exit_code,
            "ledger_id": self.genesis.ledger_id if self.genesis is not None else None,
            "genesis_hash": self.genesis_hash.hex() if self.genesis_hash else None,
            "exported_from": self.exported_from,
            "format_version": self.format_version,
            "size": size,
            "root": self.log.root(size).hex(),
            "state_digest": c["state_digest"].hex() if c is not None and self.newest_certified == size else None,
            "certified_size": self.newest_certified,
            "certified_root": c["root"].hex() if c else "",
            "certified_state_digest": c["state_digest"].hex() if c else "",
            "certified": [
                {"size": s, "root": v["root"].hex(), "state_digest": v["state_digest"].hex(),
                 "signers": sorted("node:" + n for n in v["nodes"])}
                for s, v in sorted(self.certified.items())
            ],
            "uncertified_leaves": size - self.newest_certified,
            "checks": r.checks,
            "findings": r.findings,
            "evidence": [{k: (v.hex() if isinstance(v, bytes) else v) for k, v in e.items()} for e in r.evidence],
            "could_not_verify": r.could_not,
            "warnings": r.warnings,
            "not_checked": [
                "the business rules (verdicts applied/rejected, rejection messages): SPEC.md 15",
                "state digests of the log's states: they need re-execution (SPEC.md 15); certified "
                "digests are only checked for agreement between the nodes' statements"
                " (and against the vectors' states with --vectors)",
            ],
        }
        return out


def verify_export(path, pinned=None):
    r = Report()
    v = ExportVerifier(r, pinned)
    try:
        data = open(path, "rb").read()
    except OSError as e:
        r.could_not.append(f"cannot read {path}: {e}")
        out = v.summary()
        out["exit_code"] = 2
        out["ok"] = False
        return out, v
    v.run(data)
    return v.summary(), v


def print_text(out, path):
    c = out["checks"]
    print(f"fairshare_verify (Python, from SPEC.md): {path}")
    print(f"  format {out['format_version']}, exported from {out['exported_from']}")
    print(f"  ledger {out['ledger_id']}  genesis {out['genesis_hash']}")
    print(f"  size {out['size']}  root {out['root']}")
    print(f"  certified size {out['certified_size']}  root {out['certified_root']}  state digest {out['certified_state_digest']}")
    print(f"  uncertified leaves {out['uncertified_leaves']}")
    for k, v in c.items():
        print(f"    {k}: {v}")
    for s in out["certified"]:
        print(f"  certified {s['size']}: {', '.join(s['signers'])}")
    for w in out["warnings"]:
        print(f"  warning: {w}")
    for w in out["could_not_verify"]:
        print(f"  could not verify: {w}")
    for e in out["evidence"]:
        print(f"  EVIDENCE against {e['node']} at size {e['size']} ({e['kind']}): {e['what']}")
    for f in out["findings"]:
        print(f"  FINDING {f['kind']}: log index {f['log_index']}, envelope {f['envelope']}: {f['what']}")
    verdict = {0: "VERIFIED", 1: "DOES NOT VERIFY", 2: "COULD NOT VERIFY", 3: "EVIDENCE"}[out["exit_code"]]
    first = ""
    if out["findings"]:
        f = out["findings"][0]
        first = f" (first: {f['kind']} at log index {f['log_index']}, envelope {f['envelope']}: {f['what']})"
    print(f"{verdict}: exit {out['exit_code']}{first}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export", nargs="?", help="an audit export file (fairshare audit export)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--vectors", metavar="DIR", help="also check the SPEC.md test vectors in DIR")
    ap.add_argument("--proof", metavar="FILE", action="append", default=[],
                    help="also check a proof file of `fairshare audit prove/consistency` (SPEC.md 13)")
    ap.add_argument("--genesis-hash", metavar="HEX", help="the genesis hash the auditor trusts")
    a = ap.parse_args(argv)
    if not a.export and not a.vectors and not a.proof:
        ap.error("give an export file, --vectors DIR, --proof FILE, or several")
    pinned = None
    if a.genesis_hash:
        try:
            pinned = bytes.fromhex(a.genesis_hash)
        except ValueError:
            ap.error("--genesis-hash: not hex")
    result = {}
    code = 0
    if a.export:
        out, _ = verify_export(a.export, pinned)
        result["export"] = out
        code = out["exit_code"]
        if not a.json:
            print_text(out, a.export)
    if a.vectors:
        import vectors

        vres = vectors.check_all(a.vectors)
        result["vectors"] = vres
        if not a.json:
            vectors.print_text(vres)
        if not vres["ok"] and code in (0, 3):
            code = 1
    if a.proof:
        import proofs

        result["proofs"] = []
        for p in a.proof:
            try:
                ok, problems, counts = proofs.check_proof_file(p, pinned)
            except (OSError, ValueError, KeyError) as e:
                ok, problems, counts = False, [f"could not read: {e}"], {}
                code = max(code, 2) if code != 1 else 1
            result["proofs"].append({"file": p, "ok": ok, "problems": problems, "counts": counts})
            if not a.json:
                print(f"proof {p}: {'HOLDS' if ok else 'DOES NOT HOLD'} {counts}")
                for x in problems:
                    print(f"  {x}")
            if not ok and code in (0, 3):
                code = 1
    if a.json:
        if a.export and not a.vectors and not a.proof:
            print(json.dumps(result["export"], indent=2, sort_keys=True))
        else:
            result["exit_code"] = code
            print(json.dumps(result, indent=2, sort_keys=True))
    return code


if __name__ == "__main__":
    sys.exit(main())
