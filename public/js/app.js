// fiberauth's own script: htmx settings, copy buttons, focus and status messages.
// Pages have no inline script or style (the CSP forbids them); everything is here.
(function () {
  'use strict';

  if (window.htmx) {
    var cfg = window.htmx.config;
    // Errors come back as fragments made to be shown: a form with its errors (the
    // server sets HX-Retarget to the form) or an alert retargeted to #status. So
    // swap 4xx and 5xx answers too, instead of htmx's default of ignoring them.
    cfg.responseHandling = [
      { code: '204', swap: false },
      { code: '[23]..', swap: true },
      { code: '[45]..', swap: true, error: true }
    ];
    cfg.includeIndicatorStyles = false; // it would add an inline <style>
    cfg.allowEval = false;
    cfg.allowScriptTags = false;
    cfg.selfRequestsOnly = true;
    cfg.historyCacheSize = 0; // never keep pages (keys, activity) in localStorage
    cfg.refreshOnHistoryMiss = true;
  }

  function status(message) {
    var region = document.getElementById('status');
    if (!region) return;
    var p = document.createElement('p');
    p.className = 'flash';
    p.textContent = message;
    region.replaceChildren(p);
  }

  // Copy buttons: shown only when this script runs.
  function showCopyButtons(root) {
    root.querySelectorAll('[data-copy]').forEach(function (b) { b.hidden = false; });
  }

  document.addEventListener('click', function (e) {
    var button = e.target.closest('[data-copy]');
    if (!button) return;
    var source = document.getElementById(button.getAttribute('data-copy'));
    if (!source) return;
    var text = source.textContent.trim();
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    function done() {
      button.textContent = 'Copied';
      status('Copied to the clipboard.');
      setTimeout(function () { button.textContent = label; }, 2000);
    }
    function selectIt() {
      var range = document.createRange();
      range.selectNodeContents(source);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try {
        if (document.execCommand('copy')) { done(); return; }
      } catch (_) { /* fall through */ }
      status('Press Ctrl+C (or ⌘C) to copy the selected text.');
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, selectIt);
    } else {
      selectIt();
    }
  });

  // Playground: show the fields of the chosen method, and the body only for the
  // route that reads one. Without this script every field shows, and the server
  // uses those the method needs.
  function playgroundFields() {
    var form = document.getElementById('playground-form');
    if (!form) return;
    var auth = form.querySelector('input[name="auth"]:checked');
    form.querySelectorAll('[data-for-auth]').forEach(function (el) {
      el.hidden = !!auth && el.getAttribute('data-for-auth').split(' ').indexOf(auth.value) < 0;
    });
    var op = form.querySelector('#play-op');
    var chosen = op && op.options[op.selectedIndex];
    form.querySelectorAll('[data-for-body]').forEach(function (el) {
      el.hidden = !!chosen && !chosen.hasAttribute('data-body');
    });
  }

  document.addEventListener('change', function (e) {
    var form = e.target.closest && e.target.closest('#playground-form');
    if (!form) return;
    if (e.target.id === 'play-op') {
      // A new route: the method it is made for, and its demo credentials if any.
      var o = e.target.options[e.target.selectedIndex];
      var radio = form.querySelector('input[name="auth"][value="' + o.getAttribute('data-auth') + '"]');
      if (radio) radio.checked = true;
      [['data-username', 'play-username'], ['data-password', 'play-password'], ['data-key', 'play-key']].forEach(function (p) {
        if (o.hasAttribute(p[0])) document.getElementById(p[1]).value = o.getAttribute(p[0]);
      });
    }
    playgroundFields();
  });

  // A new try clears the marks of the last refused one.
  document.addEventListener('htmx:beforeRequest', function (e) {
    var form = e.target;
    if (!form || form.id !== 'playground-form') return;
    form.querySelectorAll('.form-error, .field-error').forEach(function (el) { el.remove(); });
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
  });

  // Focus: a playground exchange that just arrived, else the first field with an
  // error, else the form's message, else a new key.
  function moveFocus() {
    var fresh = document.querySelector('.exchange[data-fresh]');
    document.querySelectorAll('.exchange[data-fresh]').forEach(function (el) { el.removeAttribute('data-fresh'); });
    if (fresh) { fresh.focus(); return; }
    var target = document.querySelector('[aria-invalid="true"]') ||
      document.querySelector('.form-error') ||
      document.getElementById('new-key');
    if (target) target.focus();
  }

  document.addEventListener('DOMContentLoaded', function () {
    showCopyButtons(document);
    playgroundFields();
    moveFocus();
  });

  document.addEventListener('htmx:afterSettle', function () {
    showCopyButtons(document);
    playgroundFields();
    moveFocus();
  });

  // A private page restored from the back/forward cache after logout must not show
  // anything: ask the server again (it sends a logged-out browser to /login).
  window.addEventListener('pageshow', function (e) {
    if (e.persisted && document.body.hasAttribute('data-private')) {
      window.location.reload();
    }
  });
})();
