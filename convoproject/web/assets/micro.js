/*
 * micro.js: call this service's RPCs from a web page, as m3o's Micro.js did.
 *
 *   <script src="https://YOUR-SERVICE/assets/micro.js"></script>
 *   Micro.requireLogin(function () {
 *     Micro.post("/protobuf/Streams/CreateConversation", "micro", {group_id: "g", topic: "t"},
 *                function (data) { ... }, function (error) { ... });
 *   });
 *
 * Requests go to the host the script was loaded from, with the login
 * session's cookie, its CSRF token (X-CSRFToken) and the namespace
 * (Micro-Namespace). An error is the service's envelope
 * {id, code, detail, status}; without an error callback it is logged.
 *
 * Live updates (GET /events, Server-Sent Events):
 *
 *   var live = Micro.subscribe("micro", {conversation_ids: [id1], chat_ids: [id2]},
 *     function (type, data) { ... },   // "message", "message_removed", "conversation_updated",
 *                                      // "conversation_deleted", "chat_deleted", "reset"
 *     function (error) { ... },        // an envelope that ends the subscription (401, 403, 404...)
 *     function (state) { ... });       // optional: "connecting", "live", "reconnecting", "closed"
 *   live.close();
 *
 * It reconnects and resumes by itself after a dropped connection, a restart or
 * a 5xx (with backoff), and after a 429 once Retry-After has passed; nothing is
 * missed or repeated across a reconnection. "reset" means the resume point was
 * too old (or there was none yet when the connection was made again): read the
 * data shown again. live.lastEventId is the newest event's id;
 * passing it as {..., last_event_id: id} to a new subscribe() resumes from there.
 */
(function (global) {
  "use strict";

  var script = document.currentScript;
  var origin = script && script.src ? new URL(script.src, global.location.href).origin : global.location.origin;
  var session = null; // a promise of GET /accounts/session/

  function loadSession(fresh) {
    if (!session || fresh) {
      session = fetch(origin + "/accounts/session/", {
        credentials: "include",
        headers: { Accept: "application/json" },
        cache: "no-store",
      }).then(function (response) {
        if (!response.ok) throw new Error("the session check answered HTTP " + response.status);
        return response.json();
      });
      session.catch(function () { session = null; }); // try again next time
    }
    return session;
  }

  function envelope(id, detail, code) {
    return { id: id, code: code || 0, detail: detail, status: "" };
  }

  function logError(path, error) {
    console.error("Micro.post " + path + " failed: " + error.id + ": " + error.detail, error);
  }

  function post(path, namespace, body, onSuccess, onError) {
    var fail = typeof onError === "function" ? onError : function (error) { logError(path, error); };
    loadSession(false)
      .then(function (info) {
        var headers = { "Content-Type": "application/json", Accept: "application/json" };
        if (namespace) headers["Micro-Namespace"] = namespace;
        if (info && info.csrf_token) headers["X-CSRFToken"] = info.csrf_token;
        return fetch(origin + path, {
          method: "POST",
          credentials: "include",
          headers: headers,
          body: JSON.stringify(body === undefined ? {} : body),
        });
      })
      .then(
        function (response) {
          return response.json().then(
            function (data) { return { response: response, data: data }; },
            function () { return { response: response, data: null }; }
          );
        },
        function (error) {
          return { error: envelope("NETWORK_ERROR", "Could not reach " + origin + ": " + (error && error.message)) };
        }
      )
      .then(function (result) {
        // Callbacks run outside the promise chain: an exception in one is the page's, not a failed call.
        setTimeout(function () {
          if (result.error) return fail(result.error);
          var response = result.response, data = result.data;
          if (response.ok && data !== null) {
            if (typeof onSuccess === "function") onSuccess(data);
          } else if (data && data.id) {
            fail(data);
          } else {
            fail(envelope("HTTP_" + response.status, "The service answered HTTP " + response.status, response.status));
          }
        }, 0);
      });
  }

  function requireLogin(callback) {
    loadSession(true).then(
      function (info) {
        if (info.authenticated) {
          callback(info);
        } else {
          global.location.href = origin + "/accounts/login/?next=" + encodeURIComponent(global.location.href);
        }
      },
      function (error) { console.error("Micro.requireLogin: cannot reach " + origin + ": " + error.message); }
    );
  }

  var EVENT_TYPES = ["message", "message_removed", "conversation_updated", "conversation_deleted", "chat_deleted", "reset"];
  var MAX_BACKOFF_MS = 30000;

  function subscribe(namespace, ids, onEvent, onError, onState) {
    ids = ids || {};
    var fail = typeof onError === "function" ? onError : function (error) {
      console.error("Micro.subscribe failed: " + error.id + ": " + error.detail, error);
    };
    var live = { lastEventId: ids.last_event_id || null, state: "", close: close };
    var source = null, timer = null, probe = null, failures = 0, opened = false;

    function setState(state) {
      if (live.state === state) return;
      live.state = state;
      if (typeof onState === "function") onState(state);
    }

    function url() {
      var query = new URLSearchParams();
      (ids.conversation_ids || []).forEach(function (id) { query.append("conversation_id", id); });
      (ids.chat_ids || []).forEach(function (id) { query.append("chat_id", id); });
      if (namespace) query.set("namespace", namespace);
      if (live.lastEventId) query.set("last_event_id", live.lastEventId);
      return origin + "/events?" + query;
    }

    function connect() {
      timer = null;
      var current = (source = new EventSource(url(), { withCredentials: origin !== global.location.origin }));
      EVENT_TYPES.forEach(function (type) {
        current.addEventListener(type, function (event) {
          if (current !== source) return; // closed meanwhile
          if (event.lastEventId) live.lastEventId = event.lastEventId;
          var data;
          try {
            data = JSON.parse(event.data);
          } catch (error) {
            return console.error("Micro.subscribe: an event's data is not JSON", event.type, event.data);
          }
          onEvent(type, data);
        });
      });
      current.onopen = function () {
        failures = 0;
        setState("live");
        // Connected again before any event gave a resume point: what changed meanwhile is unknown.
        if (opened && !live.lastEventId) onEvent("reset", {});
        opened = true;
      };
      current.onerror = function () {
        if (current !== source) return;
        // CONNECTING: the browser reconnects by itself, sending Last-Event-ID.
        if (current.readyState !== EventSource.CLOSED) return setState("reconnecting");
        // CLOSED: the server refused the stream, and EventSource does not say why.
        current.close();
        source = null;
        setState("reconnecting");
        diagnose();
      };
    }

    // Asks the same URL again with fetch() to read the answer EventSource hid.
    function diagnose() {
      var asking = (probe = new AbortController());
      var options = { credentials: "include", headers: { Accept: "text/event-stream" }, cache: "no-store", signal: asking.signal };
      fetch(url(), options)
        .then(function (response) {
          var answer = { status: response.status, retryAfter: response.headers.get("Retry-After"), error: null };
          if (response.ok) {
            asking.abort(); // the stream works again (and would never end): reconnect instead
            return answer;
          }
          return response.json().then(
            function (data) { answer.error = data && data.id ? data : null; return answer; },
            function () { return answer; }
          );
        })
        .then(
          function (answer) { if (probe === asking) answered(answer); },
          function () { if (probe === asking) retry(); } // the network
        );
    }

    function answered(answer) {
      var status = answer.status, wait = parseFloat(answer.retryAfter);
      if (status === 429) return retry(wait >= 0 ? wait * 1000 : undefined);
      if (status < 400 || status >= 500) return retry();
      close();
      var error = answer.error || envelope("HTTP_" + status, "The service answered HTTP " + status, status);
      setTimeout(function () { fail(error); }, 0); // outside the promise chain, as in post()
    }

    // Connects again after delayMs, or after a growing, jittered backoff.
    function retry(delayMs) {
      probe = null;
      if (!(delayMs >= 0)) delayMs = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, failures)) * (0.5 + Math.random() / 2);
      failures += 1;
      timer = setTimeout(connect, delayMs);
    }

    function close() {
      if (source) source.close();
      if (probe) probe.abort();
      clearTimeout(timer);
      source = probe = timer = null;
      setState("closed");
    }

    setState("connecting");
    connect();
    return live;
  }

  global.Micro = { origin: origin, post: post, requireLogin: requireLogin, session: loadSession, subscribe: subscribe };
})(window);
