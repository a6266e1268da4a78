"use strict";

/*
 * Reads the security fields the Letterlock bridge adds at the top of every message it serves
 * (src/Letterlock.Client/Mail/SecurityHeaders.cs, docs/design/bridge.md):
 *
 *   Letterlock-Encryption = "end-to-end" [ "; forward-secret" ] [ "; post-quantum" ]
 *                         / "none"
 *                         / "failed; reason=" ( "integrity" / "malformed" / "no-key" / "limit" )
 *   Letterlock-Signature  = "valid; key=" FPR "; trust=" ( "tofu" / "transparent" / "verified" / "changed" )
 *                         / "unverified-signer; key=" FPR "; trust=" ( "changed" / "none" / "tofu" / "transparent" / "verified" )
 *                         / "invalid" [ "; key=" FPR ]
 *                         / "unknown-key"
 *                         / "none"
 *   Letterlock-Sender     = "unauthenticated; dmarc=fail; policy=" TOKEN "; domain=" TOKEN
 *   FPR                   = 16*128HEXDIG
 *   TOKEN                 = 1*64( ALPHA / DIGIT / "." / "-" / "?" )
 *
 * Parameters are separated by ";" with optional spaces around it. The parser is strict: anything else (an unknown
 * word, a missing, repeated or extra parameter, a field present twice) is "unknown", which is never shown as success.
 * Only the message's top-level header counts: the bridge removes every look-alike field and writes exactly one of
 * each there; fields inside body parts came from the sender.
 */
var LetterlockSecurity = (function () {
  const FPR = /^[0-9A-Fa-f]{16,128}$/;
  const TOKEN = /^[A-Za-z0-9.?-]{1,64}$/;
  const FAILURE_REASONS = ["integrity", "malformed", "no-key", "limit"];
  const VALID_TRUST = ["tofu", "transparent", "verified", "changed"];
  const ANY_TRUST = ["none", "changed", "tofu", "transparent", "verified"];
  const MAX_FIELD = 1024;

  // Splits "word; a=b; flag" into its first word and the rest, or null when it is not of that shape.
  function split(value) {
    if (typeof value !== "string" || value.length > MAX_FIELD) {
      return null;
    }
    const parts = value.replace(/^[ \t]+|[ \t]+$/g, "").split(/[ \t]*;[ \t]*/);
    if (parts.some((p) => p.length === 0 || /[\s;]/.test(p))) {
      return null;
    }
    return { word: parts[0], rest: parts.slice(1) };
  }

  // Reads "name=value" parameters, each name at most once and only from `allowed`; null on anything else.
  function named(rest, allowed) {
    const result = {};
    for (const part of rest) {
      const eq = part.indexOf("=");
      if (eq <= 0) {
        return null;
      }
      const name = part.slice(0, eq).toLowerCase();
      const val = part.slice(eq + 1);
      if (!allowed.includes(name) || Object.prototype.hasOwnProperty.call(result, name) || val.length === 0) {
        return null;
      }
      result[name] = val;
    }
    return result;
  }

  const UNKNOWN = Object.freeze({ state: "unknown" });

  function parseEncryption(value) {
    const s = split(value);
    if (!s) {
      return UNKNOWN;
    }
    switch (s.word.toLowerCase()) {
      case "end-to-end": {
        const flags = s.rest.map((f) => f.toLowerCase());
        const known = ["forward-secret", "post-quantum"];
        if (flags.some((f) => !known.includes(f)) || new Set(flags).size !== flags.length) {
          return UNKNOWN;
        }
        return { state: "end-to-end", forwardSecret: flags.includes("forward-secret"), postQuantum: flags.includes("post-quantum") };
      }
      case "none":
        return s.rest.length === 0 ? { state: "none" } : UNKNOWN;
      case "failed": {
        const p = named(s.rest, ["reason"]);
        return p && p.reason && FAILURE_REASONS.includes(p.reason.toLowerCase()) && s.rest.length === 1
          ? { state: "failed", reason: p.reason.toLowerCase() }
          : UNKNOWN;
      }
      default:
        return UNKNOWN;
    }
  }

  function parseSignature(value) {
    const s = split(value);
    if (!s) {
      return UNKNOWN;
    }
    const word = s.word.toLowerCase();
    switch (word) {
      case "valid":
      case "unverified-signer": {
        const p = named(s.rest, ["key", "trust"]);
        const trusts = word === "valid" ? VALID_TRUST : ANY_TRUST;
        if (!p || !p.key || !p.trust || !FPR.test(p.key) || !trusts.includes(p.trust.toLowerCase())) {
          return UNKNOWN;
        }
        return { state: word, key: p.key.toUpperCase(), trust: p.trust.toLowerCase() };
      }
      case "invalid": {
        const p = named(s.rest, ["key"]);
        if (!p || (p.key !== undefined && !FPR.test(p.key))) {
          return UNKNOWN;
        }
        return p.key ? { state: "invalid", key: p.key.toUpperCase() } : { state: "invalid" };
      }
      case "unknown-key":
      case "none":
        return s.rest.length === 0 ? { state: word } : UNKNOWN;
      default:
        return UNKNOWN;
    }
  }

  function parseSender(value) {
    const s = split(value);
    if (!s || s.word.toLowerCase() !== "unauthenticated") {
      return UNKNOWN;
    }
    const p = named(s.rest, ["dmarc", "policy", "domain"]);
    if (!p || p.dmarc !== "fail" || !TOKEN.test(p.policy || "") || !TOKEN.test(p.domain || "")) {
      return UNKNOWN;
    }
    return { state: "unauthenticated", policy: p.policy, domain: p.domain };
  }

  // Exactly one occurrence counts; none is "missing", two or more "unknown" (the bridge writes exactly one).
  function single(headers, name) {
    const values = headers ? headers[name] : undefined;
    if (values === undefined || values === null || (Array.isArray(values) && values.length === 0)) {
      return { missing: true };
    }
    if (!Array.isArray(values)) {
      return { value: values };
    }
    return values.length === 1 ? { value: values[0] } : { value: null };
  }

  const RANK = { green: 0, amber: 1, grey: 2, red: 3 };
  function worst(a, b) {
    return RANK[a] >= RANK[b] ? a : b;
  }

  const TRUST_TEXT = {
    verified: "key verified",
    transparent: "key in the provider's transparency log",
    tofu: "key first seen for them, not verified",
    changed: "KEY CHANGED",
    none: "no key known",
  };

  /*
   * The summary for a message: `headers` is the top-level header of messages.getFull (lower-case names, arrays of
   * values), `from` the message's author. Returns { level: green|amber|grey|red, icon, label, title, details[] }.
   */
  function summarize(headers, from) {
    const encField = single(headers, "letterlock-encryption");
    const sigField = single(headers, "letterlock-signature");
    const senderField = single(headers, "letterlock-sender");
    if (encField.missing && sigField.missing && senderField.missing) {
      const label = "No Letterlock security information";
      return {
        level: "grey",
        label,
        title: label,
        details: ["This message was not served by the Letterlock bridge, so nothing is known about its protection."],
        encryption: { state: "missing" },
        signature: { state: "missing" },
      };
    }

    const enc = encField.missing ? UNKNOWN : parseEncryption(encField.value);
    const sig = sigField.missing ? UNKNOWN : parseSignature(sigField.value);
    const sender = senderField.missing ? null : parseSender(senderField.value);
    const who = typeof from === "string" && from.length > 0 && from.length <= 320 ? from : "the sender";
    const details = [];
    let level;
    let encText;
    switch (enc.state) {
      case "end-to-end":
        level = "green";
        encText = "End-to-end encrypted";
        details.push(
          "End-to-end encrypted: only your devices could read it on its way" +
            (enc.forwardSecret || enc.postQuantum
              ? " (" + [enc.forwardSecret ? "forward secret" : null, enc.postQuantum ? "post-quantum" : null].filter(Boolean).join(", ") + ")."
              : ".")
        );
        break;
      case "none":
        level = "grey";
        encText = "Not end-to-end encrypted";
        details.push("Not end-to-end encrypted: encrypted by your provider on arrival, so it (and anyone on the way) could read it before.");
        break;
      case "failed":
        level = "red";
        encText = "Decryption FAILED";
        details.push("Could not be decrypted (" + enc.reason + "): nothing of its content is shown.");
        break;
      default:
        level = "grey";
        encText = "Encryption unknown";
        details.push("Encryption: unknown (the Letterlock-Encryption field is missing or not understood).");
    }

    let sigText;
    switch (sig.state) {
      case "valid":
        sigText = "signed by " + who + " (" + TRUST_TEXT[sig.trust] + ")";
        level = worst(level, sig.trust === "changed" ? "red" : sig.trust === "tofu" ? "amber" : "green");
        details.push("Signed by " + who + " with key " + sig.key + " (" + TRUST_TEXT[sig.trust] + ").");
        break;
      case "unverified-signer":
        sigText = "signer not confirmed (" + TRUST_TEXT[sig.trust] + ")";
        level = worst(level, sig.trust === "changed" ? "red" : "amber");
        details.push("Signed with key " + sig.key + ", which is not a confirmed key of " + who + " (" + TRUST_TEXT[sig.trust] + ").");
        break;
      case "invalid":
        sigText = "signature INVALID";
        level = worst(level, "red");
        details.push("The signature does NOT verify" + (sig.key ? " (key " + sig.key + ")" : "") + ": the message may have been changed, or was not signed by its sender.");
        break;
      case "unknown-key":
        sigText = "signed with an unknown key";
        level = worst(level, "amber");
        details.push("Signed with a key this client does not know: the sender is not confirmed.");
        break;
      case "none":
        sigText = "not signed";
        level = worst(level, "amber");
        details.push("Not signed: the sender is not confirmed.");
        break;
      default:
        sigText = "signature unknown";
        level = worst(level, "grey");
        details.push("Signature: unknown (the Letterlock-Signature field is missing or not understood).");
    }

    if (sender) {
      level = worst(level, "red");
      details.push(
        sender.state === "unauthenticated"
          ? "FORGED SENDER: " + sender.domain + " says mail from it must pass DMARC (policy " + sender.policy + "), and this message does not."
          : "Sender check: unknown (the Letterlock-Sender field is not understood)."
      );
    }

    const label = (sender ? "Forged sender · " : "") + encText + " · " + sigText;
    return { level, label, title: "Letterlock: " + label, details, encryption: enc, signature: sig };
  }

  return { parseEncryption, parseSignature, parseSender, summarize };
})();

if (typeof module !== "undefined" && module.exports) {
  module.exports = LetterlockSecurity;
}
