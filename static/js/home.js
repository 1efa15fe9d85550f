/* Home: the conversation list, kept current by the frames this user's socket gets. */
"use strict";

(function () {
  const Live = window.Live;
  const me = Live.data.me.id;
  const list = document.getElementById("conversations");
  const empty = document.getElementById("empty");

  function row(item) {
    const node = Live.clone("tpl-conversation");
    const direct = item.kind === "direct";
    const title = direct ? (item.peer ? item.peer.name || item.peer.username : "") : item.name;
    node.dataset.id = item.id;
    node.dataset.kind = item.kind;
    node.querySelector("a").href = `/c/${item.id}/`;
    node.querySelector(".avatar").textContent = (direct && item.peer ? item.peer.username : title).charAt(0).toUpperCase();
    node.querySelector(".title").textContent = title;
    node.querySelector(".kind").textContent = direct ? "" : item.kind;
    const last = item.last_message;
    setPreview(node, last && { username: last.sender_username, text: last.text, deleted: Boolean(last.deleted_at) });
    const time = node.querySelector("time");
    time.setAttribute("datetime", item.last_message_at || item.created_at);
    Live.formatTime(time);
    setUnread(node, item.unread);
    setMentions(node, item.unread_mentions || 0);
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
      preview.append(who, " " + message.text.slice(0, 120));
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

  async function reload() {
    const response = await fetch("/api/conversations/?limit=50", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const body = await response.json();
    list.replaceChildren(...body.results.map(row));
    empty.hidden = body.results.length > 0;
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
    setPreview(node, { username: frame.username, text: frame.message, deleted: Boolean(frame.deleted) });
    const time = node.querySelector("time");
    time.setAttribute("datetime", String(frame.timestamp));
    Live.formatTime(time);
    if (frame.userId !== me) {
      setUnread(node, Number(node.querySelector(".badge.unread").textContent || 0) + 1);
      if ((frame.mentions || []).includes(me)) {
        setMentions(node, Number(node.querySelector(".badge.mentions").textContent.slice(1) || 0) + 1);
      }
    }
    list.prepend(node);
  });

  Live.on("membership", (frame) => { if (frame.userId === me) reloadSoon(); });
  Live.on("messageDeleted", reloadSoon);
  // Whatever happened before this socket was up (since the page was rendered, or while
  // disconnected) is in the list the server gives now.
  Live.onOpen(reload);
})();
