// fiberauth's passkey ceremony (WebAuthn), on the login and account pages only.
// The server sends options as JSON with binary fields in base64url; the browser's
// API wants ArrayBuffers, and its answer goes back as JSON in base64url again.
// Without WebAuthn (or without this script) the passkey controls stay hidden and
// the password form works as before.
(function () {
  'use strict';

  var supported = !!(window.PublicKeyCredential && navigator.credentials && window.fetch);

  // base64url <-> ArrayBuffer.
  function toBuffer(s) {
    var b64 = s.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function csrfToken() {
    try {
      var h = JSON.parse(document.body.getAttribute('hx-headers') || '{}');
      return h['X-Csrf-Token'] || '';
    } catch (_) { return ''; }
  }

  // post sends JSON and returns the parsed answer, or throws the envelope's message.
  function post(url, body) {
    var headers = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
    var token = csrfToken();
    if (token) headers['X-Csrf-Token'] = token;
    return fetch(url, { method: 'POST', headers: headers, credentials: 'same-origin', body: JSON.stringify(body || {}) })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
          if (!resp.ok) {
            var msg = (data && data.error && data.error.message) || ('The server answered ' + resp.status + '.');
            throw new Error(msg);
          }
          return data;
        });
      });
  }

  function status(message) {
    var region = document.getElementById('status');
    if (!region) return;
    var p = document.createElement('p');
    p.className = 'flash';
    p.textContent = message;
    region.replaceChildren(p);
  }

  function showError(id, message) {
    var box = document.getElementById(id);
    if (box) {
      box.textContent = message;
      box.hidden = false;
      box.focus();
    }
    status(message);
  }
  function clearError(id) {
    var box = document.getElementById(id);
    if (box) { box.hidden = true; box.textContent = ''; }
  }

  // The browser's own errors, in words a person can act on.
  function ceremonyMessage(err) {
    if (err && err.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out. Try again.';
    if (err && err.name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
    if (err && err.name === 'SecurityError') return 'Passkeys are not available on this address (check PUBLIC_URL).';
    return (err && err.message) || 'Something went wrong with the passkey.';
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return pk;
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return pk;
  }

  function registrationJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: toBase64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        attestationObject: toBase64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      }
    };
  }
  function assertionJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: toBase64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        authenticatorData: toBase64url(r.authenticatorData),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : undefined
      }
    };
  }

  // Show what this browser can use; run again after htmx swaps a fragment in.
  function init(root) {
    (root || document).querySelectorAll('[data-passkey-login], [data-passkey-register]').forEach(function (el) {
      el.hidden = !supported;
    });
    if (supported) {
      (root || document).querySelectorAll('[data-passkey-unsupported]').forEach(function (el) { el.hidden = true; });
    }
  }

  var busy = false;

  function login(button) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    clearError('passkey-login-error');
    status('Waiting for your passkey…');
    post('/login/passkey/options')
      .then(function (o) { return navigator.credentials.get({ publicKey: requestOptions(o) }); })
      .then(function (cred) { return post('/login/passkey', { credential: assertionJSON(cred) }); })
      .then(function () {
        status('Logged in with your passkey.');
        var next = document.querySelector('#login-form input[name="next"]');
        var to = next && next.value.charAt(0) === '/' && next.value.charAt(1) !== '/' ? next.value : '/dashboard';
        window.location.assign(to);
      })
      .catch(function (err) { showError('passkey-login-error', ceremonyMessage(err)); })
      .then(function () { busy = false; button.disabled = false; });
  }

  function register(form) {
    if (busy) return;
    busy = true;
    var button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    clearError('passkey-error');
    var name = (form.querySelector('[name="name"]') || {}).value || '';
    status('Follow your browser to create the passkey…');
    post('/account/passkeys/options')
      .then(function (o) { return navigator.credentials.create({ publicKey: creationOptions(o) }); })
      .then(function (cred) { return post('/account/passkeys', { name: name, credential: registrationJSON(cred) }); })
      .then(function (made) {
        status('Passkey “' + made.name + '” added. You can log in with it now.');
        if (window.htmx) {
          window.htmx.ajax('GET', '/account/passkeys', { target: '#passkeys', swap: 'outerHTML' });
        } else {
          window.location.reload();
        }
      })
      .catch(function (err) { showError('passkey-error', ceremonyMessage(err)); })
      .then(function () { busy = false; if (button) button.disabled = false; });
  }

  document.addEventListener('click', function (e) {
    var button = e.target.closest('#passkey-login-button');
    if (button && supported) { e.preventDefault(); login(button); }
  });
  document.addEventListener('submit', function (e) {
    var form = e.target.closest('[data-passkey-register]');
    if (form && supported) { e.preventDefault(); register(form); }
  });
  document.addEventListener('htmx:load', function (e) { init(e.target); });
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { init(document); });
  } else {
    init(document);
  }
})();
