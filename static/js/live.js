/* The one WebSocket of a page, and what every signed-in page shares.
 *
 * Live.on(action, fn)     frames from the server, by `action` (board posts: "type:message")
 * Live.onOpen(fn)         after every (re)connect: re-subscribe, catch up with `sync`
 * Live.send(frame)        true if it went out; nothing is queued here, callers that must
 *                         not lose a frame keep it until its reply (see conversation.js)
 * Live.request(frame)     a Promise of the reply carrying the same requestId
 *
 * Reconnects with exponential backoff and jitter, at once when the browser comes back
 * online. Text goes into the page with textContent; the one thing set as HTML is a
 * message's `html`, which the server renders with raw HTML off (chat/formatting.py).
 */
"use strict";

(function () {
  const dataNode = document.getElementById("page-data");
  const data = dataNode ? JSON.parse(dataNode.textContent) : {};
  const statusNode = document.getElementById("connection");
  const handlers = new Map();
  const openHooks = [];
  const waiting = new Map();
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let nextRequest = 1;
  let online = navigator.onLine !== false;

  function setStatus(state, text) {
    if (!statusNode) return;
    statusNode.dataset.state = state;
    statusNode.textContent = text;
  }

  function safely(fn, arg) {
    try {
      fn(arg);
    } catch (error) {
      // One broken handler must not stop the others, nor the socket.
      window.setTimeout(() => { throw error; });
    }
  }

  function connect() {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    if (!online) {
      setStatus("offline", "Offline");
      return;
    }
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    setStatus(attempt ? "reconnecting" : "connecting", attempt ? "Reconnecting…" : "Connecting…");
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + window.location.host + "/ws/");
    socket = ws;
    ws.addEventListener("open", () => {
      if (socket !== ws) return;
      attempt = 0;
      setStatus("live", "Live");
      openHooks.forEach((hook) => safely(hook));
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      dispatch(frame);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      waiting.forEach((entry) => entry.reject(new Error("disconnected")));
      waiting.clear();
      if (event.code === 4401) {
        setStatus("offline", "Signed out");
        window.location.assign("/login/?next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (!online) {
      setStatus("offline", "Offline");
      return;
    }
    const delay = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    setStatus("reconnecting", "Reconnecting…");
    retryTimer = window.setTimeout(connect, delay);
  }

  function dispatch(frame) {
    const entry = frame.requestId != null && waiting.get(String(frame.requestId));
    if (entry) {
      waiting.delete(String(frame.requestId));
      window.clearTimeout(entry.timer);
      if (frame.action === "error") entry.reject(frame);
      else entry.resolve(frame);
      return;
    }
    const key = frame.action || "type:" + frame.type;
    (handlers.get(key) || []).forEach((fn) => safely(fn, frame));
  }

  function isOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function send(frame) {
    if (!isOpen()) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function request(frame, timeoutMs = 10000) {
    const requestId = String(frame.requestId || "r" + nextRequest++);
    return new Promise((resolve, reject) => {
      if (!send({ ...frame, requestId })) {
        reject(new Error("disconnected"));
        return;
      }
      const timer = window.setTimeout(() => {
        waiting.delete(requestId);
        reject(new Error("timeout"));
      }, timeoutMs);
      waiting.set(requestId, { resolve, reject, timer });
    });
  }

  function on(action, fn) {
    if (!handlers.has(action)) handlers.set(action, []);
    handlers.get(action).push(fn);
  }

  function onOpen(fn) {
    openHooks.push(fn);
    if (isOpen()) safely(fn);
  }

  // A socket can look open and be dead (a laptop woke up, the network changed): when the
  // page comes back to view, and every 30 s while it is seen, ask; no answer, reconnect.
  let probing = false;
  async function probe() {
    if (!isOpen() || probing || document.visibilityState !== "visible") return;
    probing = true;
    const ws = socket;
    try {
      await request({ action: "ping" }, 5000);
    } catch (error) {
      if (error && error.message === "timeout" && socket === ws) ws.close();
    } finally {
      probing = false;
    }
  }
  document.addEventListener("visibilitychange", probe);
  window.addEventListener("focus", probe);
  window.setInterval(probe, 30000);

  window.addEventListener("offline", () => {
    online = false;
    setStatus("offline", "Offline");
    if (socket) socket.close();
  });
  window.addEventListener("online", () => {
    online = true;
    attempt = 0;
    connect();
  });

  // --- shared page helpers ---------------------------------------------------------------

  const sameDay = (a, b) => a.toDateString() === b.toDateString();

  function formatTime(node) {
    const value = node.getAttribute("datetime");
    if (!value) return;
    const when = new Date(/^\d+$/.test(value) ? Number(value) : value);
    if (Number.isNaN(when.getTime())) return;
    node.title = when.toLocaleString();
    node.textContent = sameDay(when, new Date())
      ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : when.toLocaleDateString([], { day: "numeric", month: "short" });
  }

  function formatTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(formatTime);
  }

  function clone(templateId) {
    return document.getElementById(templateId).content.firstElementChild.cloneNode(true);
  }

  let toastTimer = null;
  function toast(text, kind = "info") {
    let node = document.getElementById("toast");
    if (!node) {
      node = document.createElement("div");
      node.id = "toast";
      node.className = "toast";
      node.setAttribute("role", "status");
      node.setAttribute("aria-live", "polite");
      document.body.append(node);
    }
    node.dataset.kind = kind;
    node.textContent = text;
    node.hidden = false;
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(() => { node.hidden = true; }, 5000);
  }

  // Forms marked data-live post with fetch; the page then changes through the frames
  // everyone gets. data-confirm asks first, on any form.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (!("live" in form.dataset)) return;
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action || window.location.href, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch", Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok || body.ok === false) {
        const fieldErrors = body.errors ? Object.values(body.errors).flat().join(" ") : "";
        throw new Error(body.message || fieldErrors || "That did not work. Please try again.");
      }
      if ("reset" in form.dataset) form.reset();
      if (form.dataset.resetField) form.elements[form.dataset.resetField].value = "";
      if (body.message) toast(body.message);
      form.dispatchEvent(new CustomEvent("live:done", { bubbles: true, detail: body }));
    } catch (error) {
      toast(error.message, "error");
    } finally {
      if (button) button.disabled = false;
    }
  });

  // Every message someone else sends reaches this user's pages: say it was delivered.
  const delivered = new Map();
  const me = Number(document.body.dataset.userId);
  let deliverTimer = null;
  on("message", (frame) => {
    if (frame.userId === me) return;
    delivered.set(frame.conversationId, Math.max(delivered.get(frame.conversationId) || 0, frame.seq));
    window.clearTimeout(deliverTimer);
    deliverTimer = window.setTimeout(() => {
      delivered.forEach((seq, conversationId) => send({ action: "delivered", conversationId, seq }));
      delivered.clear();
    }, 200);
  });

  document.addEventListener("DOMContentLoaded", () => formatTimes(document));

  // --- while the tab is hidden: the count in its title, and a notification for a mention
  // or a direct message (only once the user allowed them, with the header's button) -------

  const myId = Number(document.body.dataset.userId || 0);
  const baseTitle = document.title;
  let unseen = 0;

  function showUnseen() {
    document.title = unseen ? `(${unseen}) ${baseTitle}` : baseTitle;
  }

  on("message", (frame) => {
    if (frame.userId === myId || document.visibilityState === "visible") return;
    unseen += 1;
    showUnseen();
    const mentioned = (frame.mentions || []).includes(myId);
    if (!(mentioned || frame.kind === "direct")) return;
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const note = new Notification(mentioned ? `${frame.username} mentioned you` : frame.username, {
      body: (frame.message || "").slice(0, 140),
      tag: `conversation-${frame.conversationId}`,
    });
    note.onclick = () => {
      window.focus();
      window.location.href = `/c/${frame.conversationId}/`;
    };
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    unseen = 0;
    showUnseen();
  });

  const notifyButton = document.getElementById("notify-enable");
  function offerNotifications() {
    if (!notifyButton) return;
    notifyButton.hidden = !("Notification" in window) || Notification.permission !== "default";
  }
  if (notifyButton) {
    notifyButton.addEventListener("click", () => {
      Notification.requestPermission().then(offerNotifications);
    });
    offerNotifications();
  }

  // --- presence: active while the person uses a page (reported at most once a minute),
  // idle when they leave it; a socket counts as active when it opens ---------------------

  let reported = "active";
  let reportedAt = 0;
  function report(status) {
    const now = Date.now();
    if (status === reported && (status === "idle" || now - reportedAt < 60000)) return;
    if (send({ action: "presence", status })) {
      reported = status;
      reportedAt = now;
    }
  }
  ["keydown", "pointerdown", "focus"].forEach((type) =>
    window.addEventListener(type, () => report("active"), { passive: true }));
  document.addEventListener("visibilitychange", () =>
    report(document.visibilityState === "visible" ? "active" : "idle"));
  onOpen(() => {
    reported = "active";
    reportedAt = Date.now();
    if (document.visibilityState !== "visible") report("idle");
  });

  const PRESENCE_LABELS = { active: "Active", idle: "Away", offline: "Offline" };
  function paintPresence(node, status) {
    node.dataset.presence = status;
    node.title = PRESENCE_LABELS[status] || "";
    node.setAttribute("aria-label", node.title);
  }
  document.querySelectorAll("[data-presence-user]").forEach((node) =>
    paintPresence(node, node.dataset.presence || "offline"));
  on("presence", (frame) => {
    document.querySelectorAll(`[data-presence-user="${frame.userId}"]`).forEach((node) =>
      paintPresence(node, frame.status));
  });

  window.Live = { data, on, onOpen, send, request, isOpen, formatTime, formatTimes, clone, toast, paintPresence };
  if (statusNode) connect();
})();
