// Atelier dashboard: live-update banner, theme switch, copy buttons, Web Push opt-in.
// No inline scripts (the Content-Security-Policy forbids them); htmx does the rest.
(function () {
  "use strict";

  var csrf = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  // -- live updates ------------------------------------------------------------------
  var banner = function () { return document.getElementById("live-banner"); };
  var lost = false;
  document.addEventListener("htmx:sseError", function () {
    var b = banner();
    if (b) { b.hidden = false; }
    lost = true;
    // A closed stream may mean the session ended: go to the login page if so.
    fetch("/ui/push/key", { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401 || r.redirected) {
        window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      }
    }).catch(function () {});
  });
  document.addEventListener("htmx:sseOpen", function () {
    var b = banner();
    if (b) { b.hidden = true; }
    if (lost) {
      lost = false;
      // Events may have been missed while disconnected: refresh every live section.
      document.body.dispatchEvent(new CustomEvent("refresh"));
    }
  });
  window.addEventListener("offline", function () { var b = banner(); if (b) { b.hidden = false; } });
  window.addEventListener("online", function () {
    // The stream may have survived a short outage; if it broke, htmx:sseOpen hides the banner.
    var b = banner();
    if (b && !lost) { b.hidden = true; }
  });

  // -- theme -------------------------------------------------------------------------
  var current = function () {
    try { return localStorage.getItem("atelier-theme") || "system"; } catch (e) { return "system"; }
  };
  var apply = function (theme) {
    try {
      if (theme === "system") { localStorage.removeItem("atelier-theme"); } else { localStorage.setItem("atelier-theme", theme); }
    } catch (e) { /* ignore */ }
    if (theme === "system") { document.documentElement.removeAttribute("data-theme"); }
    else { document.documentElement.setAttribute("data-theme", theme); }
    document.querySelectorAll("[data-theme-name]").forEach(function (el) { el.textContent = theme; });
    document.querySelectorAll("[data-theme-select]").forEach(function (el) { el.value = theme; });
  };
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var order = ["system", "light", "dark"];
      apply(order[(order.indexOf(current()) + 1) % order.length]);
    }
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.getAttribute("data-copy")).then(function () {
        copy.textContent = "Copied";
      });
    }
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-theme-select]")) { apply(event.target.value); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    apply(current());
    setupPush();
  });

  // -- Web Push ----------------------------------------------------------------------
  var keyBytes = function (base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  };

  function setupPush() {
    var box = document.querySelector("[data-push]");
    if (!box) { return; }
    var state = document.querySelector("[data-push-state]");
    var enable = box.querySelector("[data-push-enable]");
    var disable = box.querySelector("[data-push-disable]");
    var say = function (text) { if (state) { state.textContent = text; } };
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      enable.disabled = true;
      say("This browser cannot receive push notifications here (they need HTTPS and a supporting browser).");
      return;
    }
    var show = function (on) { enable.hidden = on; disable.hidden = !on; };
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (sub) {
      show(!!sub);
      say(sub ? "Notifications are on for this device." : "Notifications are off for this device.");
    }).catch(function (err) { say("Service worker: " + err); });

    enable.addEventListener("click", function () {
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") { throw new Error("notifications are blocked for this site"); }
        return navigator.serviceWorker.ready;
      }).then(function (reg) {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(box.getAttribute("data-key")) });
      }).then(function (sub) {
        return fetch("/ui/push/subscriptions", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify(sub.toJSON()),
        });
      }).then(function (response) {
        if (!response.ok) { return response.text().then(function (t) { throw new Error(t); }); }
        show(true);
        say("Notifications are on for this device.");
      }).catch(function (err) { say("Could not enable notifications: " + err.message); });
    });

    disable.addEventListener("click", function () {
      navigator.serviceWorker.ready.then(function (reg) {
        return reg.pushManager.getSubscription();
      }).then(function (sub) {
        if (!sub) { return null; }
        var endpoint = sub.endpoint;
        return sub.unsubscribe().then(function () {
          return fetch("/ui/push/unsubscribe", {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
            body: JSON.stringify({ endpoint: endpoint }),
          });
        });
      }).then(function () {
        show(false);
        say("Notifications are off for this device.");
      }).catch(function (err) { say("Could not disable notifications: " + err.message); });
    });
  }
})();
