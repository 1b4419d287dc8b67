// The dashboard holds the registry to the ledger heads this browser has seen (Certificate Transparency's model).
//
// On each dashboard page the browser fetches the latest signed tree head (GET /api/v1/ledger/tree-head) and
// compares it with the head it kept from an earlier visit (localStorage, per log): a smaller tree, a different
// root at the same size, or a consistency proof (GET /api/v1/ledger/consistency) that does not verify shows a
// red banner and the held head is kept; a head that extends it consistently replaces it. The head's signature
// (EdDSA) is checked with the operator key pinned with the held head (a rotated key: the registry's published
// one, GET /api/v1/ledger/keys); a head whose signature does not hold shows the banner too.
// The proof is checked here, not by the server: RFC 9162 section 2.1.4.2, as circulith.ledger.merkle does it.
(function (root) {
  "use strict";
  var subtle = (root.crypto || (typeof require === "function" ? require("crypto").webcrypto : {})).subtle;

  function fromHex(hex) {
    if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/i.test(hex)) { return null; }
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(2 * i, 2), 16); }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }
  async function sha256(bytes) { return new Uint8Array(await subtle.digest("SHA-256", bytes)); }
  async function nodeHash(left, right) {  // SHA-256(0x01 || left || right)
    var buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = 1; buf.set(left, 1); buf.set(right, 1 + left.length);
    return sha256(buf);
  }
  function odd(n) { return n % 2 === 1; }
  function half(n) { return Math.floor(n / 2); }
  function powerOfTwo(n) { while (n > 1 && !odd(n)) { n = half(n); } return n === 1; }

  // Whether proof (hex strings) shows that the tree (second, secondRoot) extends (first, firstRoot).
  async function verifyConsistency(first, second, firstRootHex, secondRootHex, proofHex) {
    var firstRoot = fromHex(firstRootHex), secondRoot = fromHex(secondRootHex);
    var proof = (proofHex || []).map(fromHex);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) { return false; }
    if (!firstRoot || !secondRoot || [firstRoot, secondRoot].concat(proof).some(function (h) { return !h || h.length !== 32; })) {
      return false;
    }
    if (first === second) { return proof.length === 0 && equal(firstRoot, secondRoot); }
    if (first === 0) { return proof.length === 0 && equal(firstRoot, await sha256(new Uint8Array(0))); }
    if (proof.length === 0) { return false; }
    var path = proof.slice();
    if (powerOfTwo(first)) { path.unshift(firstRoot); }
    var fn = first - 1, sn = second - 1;
    while (odd(fn)) { fn = half(fn); sn = half(sn); }
    var fr = path[0], sr = path[0];
    for (var i = 1; i < path.length; i++) {
      var c = path[i];
      if (sn === 0) { return false; }
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!odd(fn)) { while (fn !== 0 && !odd(fn)) { fn = half(fn); sn = half(sn); } }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn); sn = half(sn);
    }
    return equal(fr, firstRoot) && equal(sr, secondRoot) && sn === 0;
  }

  function b64urlBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  var FIELDS = ["tree_size", "root_sha256", "global_chain_sha256", "issued_at", "log_id"];

  // Why the head's JWS (EdDSA over its canonical JSON) does not hold with the Ed25519 JWK, or null when it does.
  // Throws when this browser's WebCrypto has no Ed25519 (the caller then says the signature was not checked).
  async function treeHeadProblem(head, jwk) {
    var parts = String(head.jws || "").split(".");
    if (parts.length !== 3) { return "its signature is not a compact JWS"; }
    var header, payload;
    try {
      header = JSON.parse(new TextDecoder().decode(b64urlBytes(parts[0])));
      payload = JSON.parse(new TextDecoder().decode(b64urlBytes(parts[1])));
    } catch (e) { return "its signature cannot be read"; }
    if (header.alg !== "EdDSA" || header.typ !== "circulith-tree-head+jws") { return "it is not a signed tree head"; }
    if (header.kid !== jwk.kid) { return "it names key " + header.kid + ", not " + jwk.kid; }
    for (var i = 0; i < FIELDS.length; i++) {
      if (payload[FIELDS[i]] !== head[FIELDS[i]]) { return "its " + FIELDS[i] + " differs from what its signature covers"; }
    }
    var key = await subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
    var ok = await subtle.verify({ name: "Ed25519" }, key, b64urlBytes(parts[2]),
                                 new TextEncoder().encode(parts[0] + "." + parts[1]));
    return ok ? null : "its signature by key " + jwk.kid + " does not verify";
  }

  var api = { verifyConsistency: verifyConsistency, treeHeadProblem: treeHeadProblem };
  if (typeof module !== "undefined" && module.exports) { module.exports = api; return; }
  root.circulithLedger = api;

  var PREFIX = "circulith.ledger.treeHead.";
  function short(hex) { return String(hex).slice(0, 16) + "…"; }
  function setState(state, message) {
    document.body.setAttribute("data-ledger-check", state);
    var status = document.getElementById("ledger-check");
    if (status && message) { status.textContent = message; }
  }
  function warn(text, logId) {
    var banner = document.getElementById("ledger-warning");
    if (banner) {
      banner.querySelector(".text").textContent = text;
      banner.hidden = false;
      var forget = document.getElementById("ledger-forget");
      if (forget) {
        forget.onclick = function () { localStorage.removeItem(PREFIX + logId); window.location.reload(); };
      }
    }
    setState("inconsistent", text);
  }
  function keep(head, jwk) {
    localStorage.setItem(PREFIX + head.log_id, JSON.stringify({
      tree_size: head.tree_size, root_sha256: head.root_sha256, issued_at: head.issued_at, log_id: head.log_id,
      key: jwk || null, seen_at: new Date().toISOString()
    }));
  }
  // The key the head names: the one pinned with the held head, else the registry's published key of that ID
  // (a rotation); null when the registry publishes no such key.
  async function keyFor(head, held) {
    if (held && held.key && held.key.kid === head.key_id) { return held.key; }
    var keys = await getJson("/api/v1/ledger/keys");
    var found = (keys.ok && Array.isArray(keys.body) ? keys.body : []).filter(function (k) { return k.key_id === head.key_id; });
    return found.length ? found[0].jwk : null;
  }
  // "": the signature holds; "unchecked": this browser cannot check Ed25519; else why it does not hold.
  async function signatureProblem(head, jwk) {
    if (!jwk) { return "it is signed with key " + head.key_id + ", which the registry does not publish"; }
    try {
      return (await treeHeadProblem(head, jwk)) || "";
    } catch (e) {
      if (e && e.name === "NotSupportedError") { return "unchecked"; }  // no Ed25519 in this browser
      return "its signature cannot be checked with key " + jwk.kid + " (" + (e && e.message ? e.message : e) + ")";
    }
  }
  async function getJson(url) {
    var r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    var body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, ok: r.ok, body: body };
  }
  async function check() {
    var served = await getJson("/api/v1/ledger/tree-head");
    if (served.status === 404) { setState("none", "The registry has issued no signed tree head yet."); return; }
    if (!served.ok || !served.body) { setState("error", "Could not read the registry's tree head."); return; }
    var head = served.body;
    var heldText = localStorage.getItem(PREFIX + head.log_id);
    var held = heldText ? JSON.parse(heldText) : null;
    var jwk = await keyFor(head, held);
    var sigProblem = await signatureProblem(head, jwk);
    if (sigProblem && sigProblem !== "unchecked") {
      warn("The tree head this registry serves (" + head.tree_size + " events) is not genuine: " + sigProblem +
           ". This browser keeps the head it held; report this to the registry operator and the authorities.", head.log_id);
      return;
    }
    var sigNote = sigProblem === "unchecked" ? " (this browser cannot check its Ed25519 signature)" :
                  " (signed by key " + head.key_id + ")";
    if (!held) {
      keep(head, jwk);
      setState("stored", "This browser now holds the tree head of " + head.tree_size + " events (issued " +
               head.issued_at + ")" + sigNote + " and will check that later heads extend it.");
      return;
    }
    var m = held.tree_size, n = head.tree_size;
    var heldDesc = "the one this browser saw on " + String(held.seen_at).slice(0, 10) + " (" + m + " events, root " +
                   short(held.root_sha256) + ")";
    if (n < m) {
      warn("The registry serves a tree head of " + n + " events, smaller than " + heldDesc +
           ": events were removed from its ledger.", head.log_id);
      return;
    }
    var ok;
    if (n === m) {
      ok = held.root_sha256 === head.root_sha256;
    } else {
      var proof = await getJson("/api/v1/ledger/consistency?first=" + m + "&second=" + n);
      if (!proof.ok || !proof.body) {
        warn("The registry gives no consistency proof from " + m + " to " + n + " events (HTTP " + proof.status +
             "): it cannot show that its tree head extends " + heldDesc + ".", head.log_id);
        return;
      }
      ok = await verifyConsistency(m, n, held.root_sha256, head.root_sha256, proof.body.proof);
    }
    if (!ok) {
      warn("The ledger head this registry serves (" + n + " events, root " + short(head.root_sha256) +
           ") is inconsistent with " + heldDesc + ": the ledger no longer extends what the registry showed " +
           "before (its history was rewritten or forked). This browser keeps the earlier head as evidence; report " +
           "this to the registry operator and the authorities.", head.log_id);
      return;
    }
    keep(head, jwk);
    setState("consistent", "The registry's tree head (" + n + " events)" + sigNote + " extends the one this " +
             "browser held (" + m + " events) consistently.");
  }
  function start() {
    if (!subtle || !root.localStorage) { setState("unsupported", "This browser cannot check the ledger head."); return; }
    check().catch(function (e) { setState("error", "Could not check the ledger head: " + e); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})(typeof window !== "undefined" ? window : globalThis);
