/* The live segment counter. One source of truth: the server's own rules, through the
 * preview endpoint (POST /api/sms/segments/), debounced; never a second copy in JS. */
"use strict";

(function () {
  const form = document.getElementById("campaign-form");
  // `send_at` is read in the browser's zone: the server is told which one.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  form.elements.time_zone.value = zone;
  document.getElementById("browser-zone").textContent = zone;
  const message = form.elements.message;
  const smart = form.elements.smart_encoding;
  const token = form.elements.csrfmiddlewaretoken.value;
  const counter = document.getElementById("counter");
  const highlight = document.getElementById("highlight");
  const byId = (id) => document.getElementById(id);
  let timer = null;
  let latest = 0;

  async function preview(text, smartEncoding) {
    const response = await fetch("/api/sms/segments/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
      body: JSON.stringify({ message: text, smart_encoding: smartEncoding }),
    });
    if (!response.ok) return null;
    return response.json();
  }

  function showHighlight(text, special) {
    highlight.replaceChildren();
    let plain = "";
    for (const char of Array.from(text)) {
      if (special.has(char)) {
        if (plain) highlight.append(plain);
        plain = "";
        const mark = document.createElement("mark");
        mark.textContent = char;
        highlight.append(mark);
      } else {
        plain += char;
      }
    }
    if (plain) highlight.append(plain);
    highlight.hidden = special.size === 0;
  }

  async function update() {
    const text = message.value;
    const mine = ++latest;
    if (!text.trim()) {
      counter.hidden = true;
      highlight.hidden = true;
      return;
    }
    const [plain, smartened] = await Promise.all([preview(text, false), preview(text, true)]);
    if (mine !== latest || !plain) return; // a newer keystroke won, or the text is refused
    const shown = smart.checked && smartened ? smartened : plain;
    counter.hidden = false;
    byId("count-encoding").textContent = shown.encoding;
    byId("count-segments").textContent = shown.segments;
    byId("count-segments-word").textContent = shown.segments === 1 ? "segment" : "segments";
    byId("count-remaining").textContent = shown.remaining;
    byId("count-characters").textContent = shown.characters;
    const special = new Set(shown.non_gsm_characters);
    byId("count-ucs2").hidden = special.size === 0;
    byId("count-ucs2-list").textContent = Array.from(special).join(" ");
    showHighlight(text, special);
    const saving = smartened ? plain.segments - smartened.segments : 0;
    const note = byId("count-smart");
    note.hidden = saving <= 0;
    note.textContent = smart.checked
      ? `Smart encoding saves ${saving} segment${saving === 1 ? "" : "s"} per text (${smartened && smartened.segments} instead of ${plain.segments}).`
      : `Smart encoding would save ${saving} segment${saving === 1 ? "" : "s"} per text (${smartened && smartened.segments} instead of ${plain.segments}).`;
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 200);
  }

  message.addEventListener("input", soon);
  smart.addEventListener("change", update);
  update();
})();
