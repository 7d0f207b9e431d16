// tokenlab console: the WebAuthn ceremonies (navigator.credentials) and
// confirmations. Options and responses cross the wire as JSON with
// base64url for binary fields (WebAuthn Level 3 §5.1.8, §5.1.9).
"use strict";

(function () {
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
        return j;
      });
    });
  }
  function showError(msg) {
    var e = document.getElementById("webauthn-error");
    if (!e) { alert(msg); return; }
    e.textContent = msg;
    e.hidden = false;
  }
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return o;
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return o;
  }
  function attestationJSON(c) {
    var r = c.response;
    return {
      id: c.id, rawId: bufToB64url(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        attestationObject: bufToB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      }
    };
  }
  function assertionJSON(c) {
    var r = c.response;
    return {
      id: c.id, rawId: bufToB64url(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        authenticatorData: bufToB64url(r.authenticatorData),
        signature: bufToB64url(r.signature),
        userHandle: r.userHandle ? bufToB64url(r.userHandle) : undefined
      }
    };
  }
  function register(btn) {
    btn.disabled = true;
    post("/console/webauthn/register/begin", { name: btn.dataset.name })
      .then(function (o) { return navigator.credentials.create(creationOptions(o)); })
      .then(function (c) { return post("/console/webauthn/register/finish", attestationJSON(c)); })
      .then(function (j) { window.location.assign(j.redirect); })
      .catch(function (e) { btn.disabled = false; showError(e.message || String(e)); });
  }
  function login(btn) {
    btn.disabled = true;
    post("/console/webauthn/login/begin", {})
      .then(function (o) { return navigator.credentials.get(requestOptions(o)); })
      .then(function (c) { return post("/console/webauthn/login/finish", assertionJSON(c)); })
      .then(function (j) { window.location.assign(j.redirect); })
      .catch(function (e) { btn.disabled = false; showError(e.message || String(e)); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-webauthn]").forEach(function (btn) {
      if (!window.PublicKeyCredential) {
        showError("This browser does not support security keys (WebAuthn), or the page is not in a secure context (use https, or http://localhost).");
        btn.disabled = true;
        return;
      }
      btn.addEventListener("click", function () {
        if (btn.dataset.webauthn === "register") register(btn); else login(btn);
      });
    });
    document.querySelectorAll("[data-confirm]").forEach(function (b) {
      b.addEventListener("click", function (ev) {
        if (!window.confirm(b.dataset.confirm)) ev.preventDefault();
      });
    });
  });
})();
