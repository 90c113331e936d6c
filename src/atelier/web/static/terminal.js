// The sandbox page's web terminal: xterm.js over the manager's terminal WebSocket.
// Binary frames carry terminal bytes; text frames carry JSON control messages
// ({"type":"resize"} from here, {"type":"session"} and {"type":"exit"} from the server).
// A dropped connection re-attaches to the same PTY session (?session=<id>) with backoff.
(function () {
  "use strict";

  var KEYS = {
    "esc": "\u001b", "tab": "\t", "ctrl-c": "\u0003", "ctrl-d": "\u0004",
    "up": "\u001b[A", "down": "\u001b[B", "right": "\u001b[C", "left": "\u001b[D",
  };

  function start() {
    var host = document.querySelector("[data-terminal]");
    if (!host || !window.Terminal || !window.FitAddon) { return; }
    var sandbox = host.getAttribute("data-sandbox");
    var key = "atelier-term-" + sandbox;
    var stateEl = document.querySelector("[data-term-state]");
    var button = document.querySelector("[data-term-connect]");
    var encoder = new TextEncoder();
    var term = new window.Terminal({
      cursorBlink: true,
      scrollback: 10000,
      fontSize: 14,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      theme: { background: "#101217" },
    });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(host);
    fit.fit();

    var ws = null;
    var session = null;
    try { session = sessionStorage.getItem(key); } catch (e) { session = null; }
    var wanted = false;
    var ended = false;
    var retries = 0;
    var timer = null;

    var say = function (text) { if (stateEl) { stateEl.textContent = text; } };
    var remember = function (id) {
      session = id;
      try { if (id) { sessionStorage.setItem(key, id); } else { sessionStorage.removeItem(key); } } catch (e) { /* ignore */ }
    };
    var open = function () { return ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING); };
    var running = function () {
      var head = document.querySelector("[data-sandbox-status]");
      var status = head ? head.getAttribute("data-sandbox-status") : host.getAttribute("data-status");
      return status === "running";
    };
    var sendResize = function () {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
      }
    };

    function address() {
      var scheme = location.protocol === "https:" ? "wss:" : "ws:";
      var query = "cols=" + term.cols + "&rows=" + term.rows;
      if (session) { query += "&session=" + encodeURIComponent(session); }
      return scheme + "//" + location.host + "/api/sandboxes/" + encodeURIComponent(sandbox) + "/terminal?" + query;
    }

    function schedule() {
      retries = Math.min(retries + 1, 6);
      var delay = Math.pow(2, retries - 1);
      say("disconnected — reconnecting in " + delay + " s");
      clearTimeout(timer);
      timer = setTimeout(connect, delay * 1000);
    }

    function connect() {
      clearTimeout(timer);
      wanted = true;
      ended = false;
      if (open()) { return; }
      if (!running()) { say("waiting for the sandbox to run"); return; }
      say(session ? "re-attaching…" : "connecting…");
      ws = new WebSocket(address());
      ws.binaryType = "arraybuffer";
      ws.onopen = function () {
        retries = 0;
        say("connected");
        if (button) { button.textContent = "Disconnect"; }
        fit.fit();
        sendResize();
        term.focus();
      };
      ws.onmessage = function (event) {
        if (typeof event.data === "string") {
          var message = JSON.parse(event.data);
          if (message.type === "session") { remember(message.id); }
          if (message.type === "exit") {
            ended = true;
            remember(null);
            say("session ended");
            term.write("\r\n[session ended — press Connect for a new shell]\r\n");
          }
          return;
        }
        term.write(new Uint8Array(event.data));
      };
      ws.onclose = function (event) {
        if (button) { button.textContent = "Connect"; }
        if (ended || !wanted) { if (!ended) { say("disconnected"); } return; }
        if (event.code === 4404 && session) { remember(null); schedule(); return; }
        if (event.code === 4409) { say("the sandbox is not running; reconnecting when it is"); return; }
        if (event.code === 4401 || event.code === 4403) { say("refused: " + (event.reason || "sign in again")); return; }
        schedule();
      };
    }

    function disconnect() {
      wanted = false;
      clearTimeout(timer);
      if (ws) { ws.close(1000, "closed by the user"); }
      say("disconnected");
    }

    term.onData(function (data) {
      if (ws && ws.readyState === WebSocket.OPEN) { ws.send(encoder.encode(data)); }
    });
    term.onResize(sendResize);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { fit.fit(); }).observe(host);
    }
    window.addEventListener("resize", function () { fit.fit(); });
    if (button) {
      button.addEventListener("click", function () { if (open()) { disconnect(); } else { connect(); } });
    }
    document.querySelectorAll("[data-term-key]").forEach(function (el) {
      el.addEventListener("click", function () {
        var seq = KEYS[el.getAttribute("data-term-key")];
        if (seq && ws && ws.readyState === WebSocket.OPEN) { ws.send(encoder.encode(seq)); }
        term.focus();
      });
    });
    // The page header is refreshed from the event stream: connect once the sandbox runs.
    document.body.addEventListener("htmx:afterSettle", function () {
      if (running() && !open() && !ended && (wanted || retries === 0)) { connect(); }
    });
    window.addEventListener("online", function () { if (wanted && !open()) { connect(); } });
    if (running()) { connect(); } else { say("the terminal opens when the sandbox runs"); wanted = true; }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
