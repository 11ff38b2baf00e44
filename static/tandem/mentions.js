/* @mention autocomplete for every textarea[data-mentions].
 * Typing "@" plus letters asks the server (data-mentions-url, default /mentions/autocomplete/)
 * for a small HTML list of staff users and teams; arrows + Enter/Tab or a click insert the
 * handle. No framework: the endpoint returns HTML, so htmx could swap it the same way. */
(function () {
  "use strict";
  var TOKEN = /(^|[^\w.+\-\/@])@([A-Za-z0-9][A-Za-z0-9_.\-]*)?$/;

  function attach(textarea) {
    if (textarea.dataset.mentionsReady) return;
    textarea.dataset.mentionsReady = "1";
    var url = textarea.dataset.mentionsUrl || "/mentions/autocomplete/";
    var box = document.createElement("div");
    box.className = "mention-picker";
    box.style.position = "relative";
    textarea.insertAdjacentElement("afterend", box);
    var timer = null, active = -1, requestId = 0;

    function items() { return Array.prototype.slice.call(box.querySelectorAll("li[data-handle]")); }
    function close() { box.innerHTML = ""; active = -1; }
    function highlight(index) {
      var list = items();
      list.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
      active = index;
    }
    function currentToken() {
      var before = textarea.value.slice(0, textarea.selectionStart);
      var match = TOKEN.exec(before);
      return match ? { query: match[2] || "", start: before.length - (match[2] || "").length - 1 } : null;
    }
    function insert(handle) {
      var token = currentToken();
      if (!token) return close();
      var after = textarea.value.slice(textarea.selectionStart);
      var text = textarea.value.slice(0, token.start) + "@" + handle + " ";
      textarea.value = text + after;
      textarea.selectionStart = textarea.selectionEnd = text.length;
      textarea.focus();
      close();
    }
    function lookup() {
      var token = currentToken();
      if (!token) return close();
      var mine = ++requestId;
      fetch(url + "?q=" + encodeURIComponent(token.query), {
        credentials: "same-origin", headers: { "HX-Request": "true" }
      }).then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (mine !== requestId) return; // a newer keystroke won
          box.innerHTML = html;
          if (items().length) highlight(0);
        }).catch(close);
    }
    textarea.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, 120);
    });
    textarea.addEventListener("keydown", function (event) {
      var list = items();
      if (!list.length) return;
      if (event.key === "ArrowDown") { highlight((active + 1) % list.length); event.preventDefault(); }
      else if (event.key === "ArrowUp") { highlight((active - 1 + list.length) % list.length); event.preventDefault(); }
      else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
        insert(list[active].dataset.handle); event.preventDefault();
      } else if (event.key === "Escape") { close(); }
    });
    box.addEventListener("mousedown", function (event) {
      var li = event.target.closest("li[data-handle]");
      if (li) { event.preventDefault(); insert(li.dataset.handle); }
    });
    textarea.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function scan(root) {
    (root || document).querySelectorAll("textarea[data-mentions]").forEach(attach);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSwap", function (event) { scan(event.target); });
  if (document.readyState !== "loading") scan(document);
})();
