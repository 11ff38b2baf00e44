/* Tandem inbox: keyboard shortcuts, row selection, bulk bar, composer mode, canned
   responses and the "is writing" presence ping. Plain JS; htmx does the polling. */
(function () {
  "use strict";

  function typingInField(event) {
    const el = event.target;
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function rows() { return Array.from(document.querySelectorAll("#ticket-rows tr.row")); }

  function select(index) {
    const all = rows();
    if (!all.length) return;
    const i = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((row) => row.classList.remove("is-selected"));
    all[i].classList.add("is-selected");
    all[i].scrollIntoView({ block: "nearest" });
  }

  function selectedIndex() { return rows().findIndex((row) => row.classList.contains("is-selected")); }

  function postForm(id) {
    const form = document.getElementById(id);
    if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
  }

  function composerMode(mode) {
    const composer = document.getElementById("composer");
    if (!composer) return;
    const radio = composer.querySelector(`input[name="mode"][value="${mode}"]`);
    if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
    const body = composer.querySelector("textarea[name=body]");
    if (body) body.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.metaKey || event.ctrlKey || event.altKey) return;
    if (event.key === "Escape" && typingInField(event)) { event.target.blur(); return; }
    if (typingInField(event)) return;
    const key = event.key;
    const inList = !!document.getElementById("ticket-rows");
    if (key === "?") { const d = document.getElementById("shortcuts"); if (d) d.showModal(); event.preventDefault(); }
    else if (key === "/") { const s = document.getElementById("search"); if (s) { s.focus(); event.preventDefault(); } else { window.location = "/inbox/"; } }
    else if (inList && key === "j") { select(selectedIndex() + 1); }
    else if (inList && key === "k") { select(selectedIndex() - 1); }
    else if (inList && key === "Enter") { const i = selectedIndex(); if (i >= 0) window.location = rows()[i].dataset.href; }
    else if (inList && key === "x") { const i = selectedIndex(); if (i >= 0) { const box = rows()[i].querySelector("input[type=checkbox]"); box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); } }
    else if (key === "r") { composerMode("reply"); event.preventDefault(); }
    else if (key === "n") { composerMode("note"); event.preventDefault(); }
    else if (key === "a") { postForm("take-form"); }
    else if (key === "s") { postForm("solve-form"); }
    else if (key === "u" || key === "Backspace") { const back = document.getElementById("back-to-inbox"); if (back) window.location = back.href; }
  });

  document.addEventListener("click", (event) => {
    const row = event.target.closest && event.target.closest("#ticket-rows tr.row");
    if (!row || event.target.closest("a, input, label, button")) return;
    window.location = row.dataset.href;
  });

  /* Bulk selection. */
  function refreshBulk() {
    const bar = document.getElementById("bulkbar");
    if (!bar) return;
    const checked = document.querySelectorAll('#ticket-rows input[name="tickets"]:checked').length;
    bar.hidden = checked === 0;
    document.getElementById("bulk-count").textContent = `${checked} selected`;
  }
  function refreshBulkValues() {
    const action = document.getElementById("bulk-action");
    const valueSelect = document.getElementById("bulk-value");
    const tagInput = document.getElementById("bulk-tag");
    if (!action || !valueSelect) return;
    const choices = JSON.parse(valueSelect.dataset.choices || "{}");
    const isTag = action.value === "add_tag";
    tagInput.hidden = tagInput.disabled = !isTag;
    valueSelect.hidden = valueSelect.disabled = isTag;
    valueSelect.replaceChildren(...(choices[action.value] || []).map(([v, l]) => new Option(l, v)));
  }
  document.addEventListener("change", (event) => {
    if (event.target.id === "select-all") {
      document.querySelectorAll('#ticket-rows input[name="tickets"]').forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.name === "tickets" || event.target.id === "select-all") refreshBulk();
    if (event.target.id === "bulk-action") refreshBulkValues();
    if (event.target.name === "mode" && event.target.closest("#composer")) {
      const composer = document.getElementById("composer");
      composer.classList.toggle("mode-note", event.target.value === "note");
      composer.classList.toggle("mode-reply", event.target.value !== "note");
      const send = document.getElementById("send-btn");
      if (send && !send.dataset.stale) send.textContent = event.target.value === "note" ? "Add note" : "Send";
    }
    if (event.target.id === "canned" && event.target.value) {
      const url = event.target.dataset.url.replace(/\/0\/$/, `/${event.target.value}/`);
      fetch(url, { credentials: "same-origin" }).then((r) => (r.ok ? r.text() : "")).then((text) => {
        const body = document.getElementById("composer-body");
        if (body && text) { body.value = body.value ? `${body.value}\n\n${text}` : text; body.focus(); }
        event.target.value = "";
      });
    }
  });

  /* "Is writing" ping: at most every 4 s while typing in the composer. */
  let lastPing = 0;
  document.addEventListener("input", (event) => {
    if (event.target.id !== "composer-body") return;
    const now = Date.now();
    if (now - lastPing < 4000) return;
    lastPing = now;
    const presence = document.getElementById("presence");
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (!presence || !token) return;
    const data = new FormData(); data.append("typing", "1");
    fetch(presence.getAttribute("hx-get"), { method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRFToken": token.value } });
  });

  document.addEventListener("DOMContentLoaded", () => { refreshBulkValues(); if (rows().length) select(0); });
})();
