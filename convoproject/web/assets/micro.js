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

  global.Micro = { origin: origin, post: post, requireLogin: requireLogin, session: loadSession };
})(window);
