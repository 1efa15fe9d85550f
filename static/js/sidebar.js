/* The conversation list beside every page (templates/web/_sidebar.html), kept current by
 * the frames this user's socket gets: previews, unread and mention badges, the order, and
 * the presence dots of direct conversations. The conversation open on this page is read
 * as it comes in, so its row counts nothing while the page is visible. */
"use strict";

(function () {
  const Live = window.Live;
  // Every signed-in page has the list; not every page has page data.
  const me = Number(document.body.dataset.userId);
  const current = (Live.data && Live.data.conversationId) || null;
  const list = document.getElementById("conversations");
  const empty = document.getElementById("empty");
  if (!list) return;

  const reading = (conversationId) => conversationId === current && document.visibilityState === "visible";

  function row(item) {
    const node = Live.clone("tpl-conversation");
    const direct = item.kind === "direct";
    const title = direct ? (item.peer ? item.peer.name || item.peer.username : "") : item.name;
    node.dataset.id = item.id;
    node.dataset.kind = item.kind;
    const link = node.querySelector("a");
    link.href = `/c/${item.id}/`;
    if (item.id === current) link.setAttribute("aria-current", "page");
    node.querySelector(".avatar > span[aria-hidden]").textContent = (direct && item.peer ? item.peer.username : title).charAt(0).toUpperCase();
    const dot = node.querySelector(".presence");
    if (direct && item.peer) {
      dot.hidden = false;
      dot.dataset.presenceUser = item.peer.id;
      Live.paintPresence(dot, "offline");
    }
    node.querySelector(".title").textContent = title;
    node.querySelector(".kind").textContent = direct ? "" : item.kind;
    const last = item.last_message;
    setPreview(node, last && { username: last.sender_username, text: last.text, attachments: last.attachments || [], deleted: Boolean(last.deleted_at) });
    const time = node.querySelector("time");
    time.setAttribute("datetime", item.last_message_at || item.created_at);
    Live.formatTime(time);
    const read = reading(item.id);
    setUnread(node, read ? 0 : item.unread);
    setMentions(node, read ? 0 : item.unread_mentions || 0);
    return node;
  }

  function setPreview(node, message) {
    const preview = node.querySelector(".preview");
    preview.replaceChildren();
    if (!message) {
      const none = document.createElement("em");
      none.textContent = "No messages yet";
      preview.append(none);
    } else if (message.deleted) {
      const gone = document.createElement("em");
      gone.textContent = "message deleted";
      preview.append(gone);
    } else {
      const who = document.createElement("b");
      who.textContent = message.username + ":";
      preview.append(who, " ");
      const files = message.attachments || [];
      if (message.text || files.length === 0) {
        preview.append(message.text.slice(0, 120));
      } else {
        const note = document.createElement("i");
        note.className = "files-note";
        note.textContent = files[0].name + (files.length > 1 ? ` and ${files.length - 1} more` : "");
        preview.append(note);
      }
    }
  }

  function setMentions(node, count) {
    const badge = node.querySelector(".badge.mentions");
    badge.textContent = `@${count}`;
    badge.setAttribute("aria-label", `${count} unread mention${count === 1 ? "" : "s"}`);
    badge.hidden = !count;
  }

  function setUnread(node, count) {
    const badge = node.querySelector(".badge.unread");
    badge.textContent = count;
    badge.setAttribute("aria-label", `${count} unread`);
    badge.hidden = !count;
    node.classList.toggle("has-unread", count > 0);
  }

  /* The server's list, then the presence of the people in its direct conversations. */
  async function reload() {
    const response = await fetch("/api/conversations/?limit=50", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const body = await response.json();
    list.replaceChildren(...body.results.map(row));
    empty.hidden = body.results.length > 0;
    const peers = body.results.filter((item) => item.kind === "direct" && item.peer).map((item) => item.peer.id);
    if (peers.length === 0) return;
    const seen = await fetch(`/api/presence/?user_ids=${peers.join(",")}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!seen.ok) return;
    for (const entry of await seen.json()) {
      list.querySelectorAll(`[data-presence-user="${entry.user_id}"]`).forEach((dot) => Live.paintPresence(dot, entry.status));
    }
  }

  let reloadTimer = null;
  function reloadSoon() {
    window.clearTimeout(reloadTimer);
    reloadTimer = window.setTimeout(reload, 100);
  }

  Live.on("message", (frame) => {
    const node = list.querySelector(`li[data-id="${frame.conversationId}"]`);
    if (!node) {
      reloadSoon(); // a conversation this page has not shown yet
      return;
    }
    setPreview(node, { username: frame.username, text: frame.message, attachments: frame.attachments || [], deleted: Boolean(frame.deleted) });
    const time = node.querySelector("time");
    time.setAttribute("datetime", String(frame.timestamp));
    Live.formatTime(time);
    if (frame.userId !== me && !reading(frame.conversationId)) {
      setUnread(node, Number(node.querySelector(".badge.unread").textContent || 0) + 1);
      if ((frame.mentions || []).includes(me)) {
        setMentions(node, Number(node.querySelector(".badge.mentions").textContent.slice(1) || 0) + 1);
      }
    }
    list.prepend(node);
  });

  // The open conversation is read as soon as it is seen (conversation.js says so).
  function readCurrent() {
    const node = current && list.querySelector(`li[data-id="${current}"]`);
    if (node && reading(current)) {
      setUnread(node, 0);
      setMentions(node, 0);
    }
  }
  document.addEventListener("visibilitychange", readCurrent);
  readCurrent();

  Live.on("membership", (frame) => { if (frame.userId === me) reloadSoon(); });
  Live.on("messageDeleted", reloadSoon);
  // Whatever happened before this socket was up (since the page was rendered, or while
  // disconnected) is in the list the server gives now.
  Live.onOpen(reload);
})();
