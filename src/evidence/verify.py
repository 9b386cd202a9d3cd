#!/usr/bin/env python3
"""Verifies a Rekey evidence export without Rekey.

Run it in the folder the export was unpacked into (tar xf evidence.tar; python3 verify.py), or
give that folder as its argument. It needs Python 3 and either the `openssl` command (3.0 or
later) or the `cryptography` package for Ed25519 signatures; nothing else.

It checks: every file against MANIFEST, MANIFEST's signature, the signed checkpoints and their
links, every audit entry's hash and link from a signed checkpoint to a signed checkpoint, each
notice version's hash, that each approval names the hash of the version it approves and is
recorded in the audit trail, that no notice was approved by its last editor, and that each
message sent is exactly the approved version. Every problem is named; the exit status is 0 when
there is none, 1 otherwise.
"""

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
CHECKPOINT_FIELDS = ["number", "entry", "head", "signed-at", "previous", "public-key", "signature"]


def ed25519_verify(raw_key, message, signature):
    if os.environ.get("VERIFY_WITH_OPENSSL"):
        return openssl_verify(raw_key, message, signature)
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.exceptions import InvalidSignature

        try:
            Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, message)
            return True
        except InvalidSignature:
            return False
    except ImportError:
        return openssl_verify(raw_key, message, signature)


def openssl_verify(raw_key, message, signature):
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: os.path.join(tmp, name) for name in ("key.pem", "message", "signature")}
        pem = "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % base64.b64encode(
            SPKI_PREFIX + raw_key
        ).decode()
        for name, data in (("key.pem", pem.encode()), ("message", message), ("signature", signature)):
            with open(paths[name], "wb") as f:
                f.write(data)
        result = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["key.pem"], "-rawin",
             "-in", paths["message"], "-sigfile", paths["signature"]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return result.returncode == 0


def fingerprint(raw_key):
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw_key).digest()).decode().rstrip("=")


def content_hash(subject, body):
    s = subject.encode()
    return hashlib.sha256(struct.pack(">Q", len(s)) + s + body.encode()).hexdigest()


def entry_hash(e, prev):
    def text(s):
        b = s.encode()
        return struct.pack(">I", len(b)) + b

    encoded = (
        b"rekey-audit-v1"
        + struct.pack(">q", e["seq"])
        + struct.pack(">q", e["at"])
        + text(e["actor_kind"])
        + struct.pack(">q", e["actor_id"] or 0)
        + text(e["actor_name"])
        + text(e["action"])
        + text(e["target"])
        + text(e["detail"])
        + prev
    )
    return hashlib.sha256(encoded).digest()


def parse_checkpoint(text):
    lines = [l.strip() for l in text.splitlines()]
    start = lines.index("rekey-checkpoint-v1")
    fields = {}
    for name, line in zip(CHECKPOINT_FIELDS, lines[start + 1:start + 8]):
        prefix = name + ":"
        if not line.startswith(prefix):
            raise ValueError("line '%s: …' is missing" % name)
        fields[name] = line[len(prefix):].strip()
    signed = "".join(l + "\n" for l in lines[start:start + 7])
    return fields, signed.encode()


def verify(folder):
    problems = []
    read = lambda name: open(os.path.join(folder, name), "rb").read()

    manifest = read("MANIFEST")
    listed = {}
    for line in manifest.decode().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    for name, digest in listed.items():
        try:
            actual = hashlib.sha256(read(name)).hexdigest()
        except FileNotFoundError:
            problems.append("%s is missing" % name)
            continue
        if actual != digest:
            problems.append("%s does not match MANIFEST: it was changed after the export" % name)

    pem = read("public-key.pem").decode()
    der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))
    key = der[len(SPKI_PREFIX):] if der.startswith(SPKI_PREFIX) else None
    if key is None or len(key) != 32:
        problems.append("public-key.pem is not an Ed25519 public key")
        key = b"\0" * 32
    signature = base64.b64decode(read("MANIFEST.sig").strip())
    if not ed25519_verify(key, manifest, signature):
        problems.append("MANIFEST.sig does not verify with public-key.pem: the manifest or the key was changed")

    evidence = json.loads(read("evidence.json"))
    if evidence.get("format") != "rekey-evidence-v1":
        problems.append("evidence.json is not a rekey-evidence-v1 export")
    if base64.b64decode(evidence["public_key"]) != key:
        problems.append("evidence.json names another public key than public-key.pem")
    if evidence["public_key_fingerprint"] != fingerprint(key):
        problems.append("evidence.json's key fingerprint is not public-key.pem's")

    # Checkpoints: each signed by the key, each linked to the one before.
    anchors = {}
    previous = None
    for text in evidence["checkpoints"]:
        try:
            c, signed = parse_checkpoint(text)
        except ValueError as e:
            problems.append("a checkpoint does not read: %s" % e)
            continue
        number = c["number"]
        raw = base64.b64decode(c["public-key"])
        if raw != key:
            problems.append("checkpoint %s was signed by key %s, not by %s" % (number, fingerprint(raw), fingerprint(key)))
        elif not ed25519_verify(raw, signed, base64.b64decode(c["signature"])):
            problems.append("checkpoint %s: the signature does not hold: it was altered" % number)
        if previous is not None and int(number) == int(previous["number"]) + 1 and c["previous"] != previous["signature"]:
            problems.append("checkpoint %s does not link to checkpoint %s" % (number, previous["number"]))
        anchors[int(c["entry"])] = (number, c["head"])
        previous = c

    # The chain, from a signed checkpoint to a signed checkpoint.
    audit = evidence["audit"]
    after = audit["after_seq"]
    prev = bytes.fromhex(audit["after_hash"])
    if after > 0 and anchors.get(after, (None, None))[1] != audit["after_hash"]:
        problems.append("the audit entries do not start at a signed checkpoint (entry %s)" % after)
    expected = after + 1
    hashes = {}
    for e in audit["entries"]:
        seq = e["seq"]
        if seq != expected:
            problems.append("audit entry %s is missing: the next is %s" % (expected, seq))
            expected = seq
        if e["prev_hash"] != prev.hex():
            problems.append("audit entry %s does not link to the entry before it" % seq)
        computed = entry_hash(e, bytes.fromhex(e["prev_hash"]))
        if computed.hex() != e["hash"]:
            problems.append("audit entry %s: its fields do not match its hash: it was altered" % seq)
        hashes[seq] = e["hash"]
        prev = bytes.fromhex(e["hash"])
        expected += 1
    for entry, (number, head) in anchors.items():
        if entry in hashes and hashes[entry] != head:
            problems.append("checkpoint %s signed entry %s with another hash than the entry has" % (number, entry))
    if audit["entries"] and audit["entries"][-1]["seq"] not in anchors:
        problems.append("the last audit entries are not covered by a signed checkpoint")

    recorded = set()
    for e in audit["entries"]:
        if e["action"] in ("notice.approved", "notice.rejected"):
            detail = json.loads(e["detail"])
            recorded.add((e["action"], e["target"], detail.get("version"), detail.get("sha256")))

    # Notices: exact bytes, four eyes, and what was sent.
    for n in evidence["notices"]:
        nid = n["id"]
        versions = {v["version"]: v for v in n["versions"]}
        for v in n["versions"]:
            if content_hash(v["subject"], v["body"]) != v["sha256"]:
                problems.append("notice %s, version %s: the text does not match its SHA-256" % (nid, v["version"]))
        approved = None
        for d in n["decisions"]:
            v = versions.get(d["version"])
            if v is None or v["sha256"] != d["sha256"]:
                problems.append("notice %s: the %s decision on version %s names a SHA-256 that version does not have" % (nid, d["decision"], d["version"]))
            action = "notice.approved" if d["decision"] == "approved" else "notice.rejected"
            if d["decision"] == "approved" and (action, "notice:%s" % nid, d["version"], d["sha256"]) not in recorded:
                problems.append("notice %s: no audit entry records the approval of version %s with that SHA-256" % (nid, d["version"]))
            if d["decision"] == "approved":
                approved = d
                if v is not None and v["author_kind"] == "user" and v["author"] == d["by"]:
                    problems.append("notice %s: version %s was approved by its own last editor, %s" % (nid, d["version"], d["by"]))
        sent = n.get("sent")
        if sent is not None:
            if approved is None or content_hash(sent["subject"], sent["body"]) != approved["sha256"]:
                problems.append("notice %s: the message sent is not the approved version" % nid)

    return problems, evidence


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    problems, evidence = verify(folder)
    print("Export of %s, signed by %s" % (evidence["manifest"]["scope"], evidence["public_key_fingerprint"]))
    if problems:
        for p in problems:
            print("FAILED: " + p)
        sys.exit(1)
    print("OK: %d files, %d checkpoints, %d audit entries, %d notices verified"
          % (5, len(evidence["checkpoints"]), len(evidence["audit"]["entries"]), len(evidence["notices"])))


if __name__ == "__main__":
    main()
