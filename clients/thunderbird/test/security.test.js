"use strict";

// Run with: node --test clients/thunderbird/test/
const test = require("node:test");
const assert = require("node:assert/strict");
const S = require("../security.js");

const FPR = "0123456789ABCDEF0123456789ABCDEF01234567";
const h = (enc, sig, sender) => {
  const headers = {};
  if (enc !== undefined) headers["letterlock-encryption"] = Array.isArray(enc) ? enc : [enc];
  if (sig !== undefined) headers["letterlock-signature"] = Array.isArray(sig) ? sig : [sig];
  if (sender !== undefined) headers["letterlock-sender"] = [sender];
  return headers;
};

test("every encryption value the bridge writes is read", () => {
  assert.deepEqual(S.parseEncryption("end-to-end; forward-secret; post-quantum"), { state: "end-to-end", forwardSecret: true, postQuantum: true });
  assert.deepEqual(S.parseEncryption("end-to-end"), { state: "end-to-end", forwardSecret: false, postQuantum: false });
  assert.deepEqual(S.parseEncryption("none"), { state: "none" });
  for (const reason of ["integrity", "malformed", "no-key", "limit"]) {
    assert.deepEqual(S.parseEncryption("failed; reason=" + reason), { state: "failed", reason });
  }
  assert.deepEqual(S.parseEncryption("  End-To-End ;forward-secret  "), { state: "end-to-end", forwardSecret: true, postQuantum: false });
});

test("every signature value the bridge writes is read", () => {
  for (const trust of ["tofu", "transparent", "verified", "changed"]) {
    assert.deepEqual(S.parseSignature(`valid; key=${FPR}; trust=${trust}`), { state: "valid", key: FPR, trust });
  }
  for (const trust of ["changed", "none"]) {
    assert.deepEqual(S.parseSignature(`unverified-signer; key=${FPR}; trust=${trust}`), { state: "unverified-signer", key: FPR, trust });
  }
  assert.deepEqual(S.parseSignature(`invalid; key=${FPR.toLowerCase()}`), { state: "invalid", key: FPR });
  assert.deepEqual(S.parseSignature("invalid"), { state: "invalid" });
  assert.deepEqual(S.parseSignature("unknown-key"), { state: "unknown-key" });
  assert.deepEqual(S.parseSignature("none"), { state: "none" });
  assert.deepEqual(S.parseSender("unauthenticated; dmarc=fail; policy=reject; domain=bank.example"), { state: "unauthenticated", policy: "reject", domain: "bank.example" });
});

test("anything else is unknown, never success", () => {
  const encryption = [
    "", " ", "end-to-end;", "end-to-end; post-quantum; post-quantum", "end-to-end; quantum-proof", "end-to-end forward-secret",
    "encrypted", "yes", "none; reason=integrity", "failed", "failed; reason=", "failed; reason=other", "failed; reason=integrity; x=y",
    "end-to-end\n", "end-to-end;;forward-secret", "x".repeat(2000), null, undefined, 42, ["end-to-end"],
  ];
  for (const value of encryption) {
    assert.deepEqual(S.parseEncryption(value), { state: "unknown" }, JSON.stringify(value));
  }

  const signature = [
    "", "valid", "valid; key=" + FPR, `valid; trust=verified`, `valid; key=${FPR}; trust=excellent`, `valid; key=${FPR}; trust=none`,
    `valid; key=XYZ; trust=verified`, `valid; key=0123; trust=verified`, `valid; key=${FPR}; trust=verified; trust=verified`,
    `valid; key=${FPR}; trust=verified; extra=1`, `valid; key=${FPR}; trust=verified; signer=alice@alpha.test`,
    `valid key=${FPR} trust=verified`, "good", "verified", "unknown-key; key=" + FPR, "none; trust=verified", "invalid; key=nothex",
    `unverified-signer; key=${FPR}`, `unverified-signer; key=${FPR}; trust=maybe`,
  ];
  for (const value of signature) {
    assert.deepEqual(S.parseSignature(value), { state: "unknown" }, JSON.stringify(value));
  }

  assert.deepEqual(S.parseSender("authenticated"), { state: "unknown" });
  assert.deepEqual(S.parseSender("unauthenticated; dmarc=pass; policy=reject; domain=a.example"), { state: "unknown" });
});

test("end-to-end with a verified or transparent signer is green and names the signer", () => {
  const verified = S.summarize(h("end-to-end; forward-secret; post-quantum", `valid; key=${FPR}; trust=verified`), "alice@alpha.test");
  assert.equal(verified.level, "green");
  assert.equal(verified.label, "End-to-end encrypted · signed by alice@alpha.test (key verified)");
  assert.match(verified.details.join("\n"), /forward secret, post-quantum/);
  assert.match(verified.details.join("\n"), new RegExp(FPR));

  const transparent = S.summarize(h("end-to-end", `valid; key=${FPR}; trust=transparent`), "alice@alpha.test");
  assert.equal(transparent.level, "green");
  assert.equal(transparent.label, "End-to-end encrypted · signed by alice@alpha.test (key in the provider's transparency log)");
});

test("trust on first use and unconfirmed signers are amber", () => {
  assert.equal(S.summarize(h("end-to-end", `valid; key=${FPR}; trust=tofu`), "a@b").level, "amber");
  assert.equal(S.summarize(h("end-to-end", `unverified-signer; key=${FPR}; trust=none`), "a@b").level, "amber");
  assert.equal(S.summarize(h("end-to-end", "unknown-key"), "a@b").level, "amber");
  assert.equal(S.summarize(h("end-to-end", "none"), "a@b").level, "amber");
});

test("not end-to-end is grey whatever the signature", () => {
  const plain = S.summarize(h("none", "none"), "carol@outside.example");
  assert.equal(plain.level, "grey");
  assert.equal(plain.label, "Not end-to-end encrypted · not signed");
  assert.equal(S.summarize(h("none", `valid; key=${FPR}; trust=verified`), "a@b").level, "grey");
});

test("failures, invalid signatures, changed keys and forged senders are red", () => {
  const failed = S.summarize(h("failed; reason=integrity", "none"), "a@b");
  assert.equal(failed.level, "red");
  assert.equal(failed.label, "Decryption FAILED · not signed");
  assert.equal(S.summarize(h("end-to-end", "invalid"), "a@b").level, "red");
  assert.equal(S.summarize(h("end-to-end", `valid; key=${FPR}; trust=changed`), "a@b").level, "red");
  assert.equal(S.summarize(h("end-to-end", `unverified-signer; key=${FPR}; trust=changed`), "a@b").level, "red");
  const forged = S.summarize(h("none", "none", "unauthenticated; dmarc=fail; policy=reject; domain=bank.example"), "boss@bank.example");
  assert.equal(forged.level, "red");
  assert.match(forged.label, /^Forged sender/);
  assert.equal(S.summarize(h("end-to-end", `valid; key=${FPR}; trust=verified`, "something-else"), "a@b").level, "red");
});

test("unknown or repeated fields are shown as unknown and never green", () => {
  const unknownSig = S.summarize(h("end-to-end", "valid; key=nothex; trust=verified"), "a@b");
  assert.equal(unknownSig.level, "grey");
  assert.equal(unknownSig.label, "End-to-end encrypted · signature unknown");
  const unknownEnc = S.summarize(h("encrypted", `valid; key=${FPR}; trust=verified`), "a@b");
  assert.equal(unknownEnc.level, "grey");
  assert.equal(unknownEnc.label, "Encryption unknown · signed by a@b (key verified)");
  // A field twice: the bridge writes exactly one, so this is not what it served.
  const twice = S.summarize(h(["end-to-end", "end-to-end"], [`valid; key=${FPR}; trust=verified`, `valid; key=${FPR}; trust=verified`]), "a@b");
  assert.equal(twice.level, "grey");
  assert.equal(twice.label, "Encryption unknown · signature unknown");
  const onlyOne = S.summarize(h("end-to-end", undefined), "a@b");
  assert.equal(onlyOne.level, "grey");
});

test("a message without any Letterlock field says so", () => {
  const none = S.summarize({ subject: ["hello"] }, "a@b");
  assert.equal(none.level, "grey");
  assert.equal(none.label, "No Letterlock security information");
  assert.equal(S.summarize(undefined, "a@b").label, "No Letterlock security information");
});

test("an odd author is not put in the line", () => {
  assert.equal(S.summarize(h("end-to-end", `valid; key=${FPR}; trust=verified`), "").label, "End-to-end encrypted · signed by the sender (key verified)");
});
