/* The conversation page: history, live messages, the composer with its ticks, members.
 *
 * Nothing is lost: a message typed while offline waits in `unacked` and is sent (again,
 * with the same clientId, so never twice) whenever the socket opens, until its ack comes.
 * Nothing is missed: after every (re)connect, and whenever a frame arrives with a seq
 * beyond the next one expected, the page asks for everything after `lastSeq` with `sync`.
 */
"use strict";

(function () {
  const Live = window.Live;
  const page = Live.data;
  const conversationId = page.conversationId;
  const me = page.me.id;
  const list = document.getElementById("messages");
  const scroller = document.getElementById("scroller");
  const olderNote = document.getElementById("older");
  const emptyNote = document.getElementById("no-messages");
  const notice = document.getElementById("notice");
  const composer = document.getElementById("composer");
  const textarea = document.getElementById("composer-text");
  const memberList = document.getElementById("member-list");
  const pendingList = document.getElementById("pending-list");
  const memberBase = document.getElementById("member-url").dataset.base;

  let lastSeq = page.lastSeq;
  let firstSeq = page.firstSeq;
  let hasMore = page.hasMore;
  let readSent = page.readSeq;
  let member = true;
  const cursors = page.cursors;
  const unacked = new Map();

  // --- messages --------------------------------------------------------------------------

  function fromFrame(frame) {
    return {
      id: frame.id,
      seq: frame.seq,
      sender: frame.userId,
      username: frame.username,
      text: frame.message,
      html: frame.html,
      clientId: frame.clientId,
      at: frame.timestamp,
      editedAt: frame.editedAt,
      replyTo: frame.replyTo,
      reactions: frame.reactions || [],
      attachments: frame.attachments || [],
      deleted: Boolean(frame.deleted),
    };
  }

  function fromRest(item) {
    return {
      id: item.id,
      seq: item.seq,
      sender: item.sender,
      username: item.sender_username,
      text: item.text,
      html: item.html,
      clientId: item.client_id,
      at: item.created_at,
      editedAt: item.edited_at,
      replyTo: item.reply_to,
      reactions: item.reactions || [],
      attachments: item.attachments || [],
      deleted: Boolean(item.deleted_at),
    };
  }

  /* Mentions of this user (or of everyone) stand out. */
  function markMentions(root) {
    root.querySelectorAll(`.mention[data-user-id="${me}"], .mention[data-everyone]`).forEach((m) => m.classList.add("you"));
  }

  /* The text as the server rendered it (chat/formatting.py: the Markdown subset, raw HTML
     never passed through), or as typed while it has no rendering yet (not acked). */
  function setBody(node, message) {
    const body = node.querySelector(".text");
    node.classList.toggle("deleted", Boolean(message.deleted));
    if (message.deleted) {
      body.textContent = "message deleted";
      node.querySelector(".reply-quote").hidden = true;
      node.querySelector(".reactions").replaceChildren();
      setFiles(node, []);
    } else if (message.html) {
      body.innerHTML = message.html;
      body.classList.remove("plain");
      markMentions(body);
    } else {
      body.textContent = message.text;
      body.classList.add("plain");
    }
    node.querySelector(".edited").hidden = !message.editedAt || Boolean(message.deleted);
    if (message.text != null && !message.deleted) node.dataset.text = message.text;
  }

  /* As templates/web/_attachment.html: images as thumbnails that open full size, other
     files as their name and size, downloaded. */
  function setFiles(node, attachments) {
    const files = node.querySelector(".files");
    files.replaceChildren(...attachments.map(fileItem));
    files.hidden = attachments.length === 0;
  }

  function fileItem(file) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = file.url;
    if (file.thumbnail_url) {
      link.className = "file-image";
      link.target = "_blank";
      link.rel = "noopener";
      link.title = file.name;
      const img = document.createElement("img");
      img.src = file.thumbnail_url;
      img.alt = file.name;
      img.loading = "lazy";
      if (file.width && file.height) {
        img.width = file.width;
        img.height = file.height;
      }
      link.append(img);
    } else {
      link.className = "file-link";
      link.download = file.name;
      const icon = fileIcon();
      const name = document.createElement("span");
      name.className = "file-name";
      name.textContent = file.name;
      const size = document.createElement("span");
      size.className = "file-size";
      size.textContent = sizeOf(file.size);
      link.append(icon, " ", name, " ", size);
    }
    item.append(link);
    return item;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function fileIcon() {
    const icon = document.createElementNS(SVG, "svg");
    icon.setAttribute("class", "file-icon");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("width", "18");
    icon.setAttribute("height", "18");
    icon.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", "M6 2.5h8l4.5 4.5v14.5h-12.5zM14 2.5v4.5h4.5");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.6");
    path.setAttribute("stroke-linejoin", "round");
    icon.append(path);
    return icon;
  }

  /* As Django's filesizeformat, which the server-rendered history uses. */
  function sizeOf(bytes) {
    if (bytes < 1024) return bytes === 1 ? "1 byte" : `${bytes} bytes`;
    const units = ["KB", "MB", "GB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(1)} ${units[unit]}`;
  }

  function setQuote(node, reply) {
    const quote = node.querySelector(".reply-quote");
    quote.hidden = !reply;
    if (!reply) return;
    quote.dataset.seq = reply.seq;
    quote.querySelector(".reply-sender").textContent = reply.sender_username;
    quote.querySelector(".reply-excerpt").textContent = reply.excerpt || "(not shown)";
  }

  function setReactions(node, reactions) {
    const chips = node.querySelector(".reactions");
    chips.replaceChildren(...reactions.filter((r) => r.count > 0).map(chip));
  }

  function chip(reaction) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "chip" + (reaction.me ? " pressed" : "");
    button.dataset.emoji = reaction.emoji;
    button.setAttribute("aria-pressed", String(Boolean(reaction.me)));
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = reaction.count;
    button.append(reaction.emoji + " ", count);
    item.append(button);
    return item;
  }

  function build(message) {
    const node = Live.clone("tpl-message");
    node.classList.toggle("mine", message.sender === me);
    node.querySelector(".sender").textContent = message.username;
    setBody(node, message);
    setQuote(node, message.replyTo);
    setReactions(node, message.reactions || []);
    setFiles(node, message.attachments || []);
    const time = node.querySelector("time");
    time.setAttribute("datetime", String(message.at || Date.now()));
    Live.formatTime(time);
    if (message.clientId) node.dataset.clientId = message.clientId;
    setSeq(node, message);
    return node;
  }

  function setSeq(node, message) {
    if (message.seq == null) {
      delete node.dataset.seq;
      return;
    }
    node.dataset.seq = message.seq;
    node.dataset.id = message.id;
    node.dataset.sender = message.sender == null ? "" : message.sender;
  }

  function bySeq(seq) {
    return list.querySelector(`li[data-seq="${seq}"]`);
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  /* Seq order; messages still waiting for their ack (no seq yet) stay last. */
  function place(node, seq) {
    const after = Array.from(list.children).find(
      (li) => li !== node && (li.dataset.seq === undefined || Number(li.dataset.seq) > seq),
    );
    list.insertBefore(node, after || null);
  }

  function insert(message) {
    if (bySeq(message.seq)) return false;
    const mine = message.clientId != null && message.sender === me && unacked.get(message.clientId);
    if (mine) {
      // Our own message, committed, whose ack was lost: the bubble already on the page.
      acknowledged(message.clientId, { seq: message.seq, id: message.id, timestamp: message.at });
      return false;
    }
    const node = build(message);
    place(node, message.seq);
    emptyNote.hidden = true;
    paintTick(node);
    regroup();
    return true;
  }

  /* lastSeq is the contiguous cursor: every seq up to it is on the page (or hidden from
     this user, which only a completed sync can tell). */
  function advance() {
    while (bySeq(lastSeq + 1)) lastSeq += 1;
  }

  function maxSeqOnPage() {
    const seqs = Array.from(list.querySelectorAll("li[data-seq]"), (li) => Number(li.dataset.seq));
    return Math.max(lastSeq, ...seqs);
  }

  function receive(message) {
    const stick = nearBottom();
    const added = insert(message);
    advance();
    // Whoever writes has read everything before (the server moves their cursor with the
    // send and sends no receipt for it).
    const writer = cursors[message.sender];
    if (writer && writer.read < message.seq) {
      writer.read = writer.delivered = message.seq;
      paintTicks();
    }
    if (added && stick) scrollToBottom();
    if (message.sender !== me) markRead();
  }

  let catchingUp = null;
  function catchUp() {
    if (!catchingUp) {
      catchingUp = (async () => {
        try {
          for (;;) {
            const reply = await Live.request({
              action: "sync", conversationId, afterSeq: lastSeq, limit: 200,
            });
            reply.messages.forEach((frame) => receive(fromFrame(frame)));
            if (reply.messages.length) lastSeq = Math.max(lastSeq, reply.messages.at(-1).seq);
            if (!reply.hasMore || reply.messages.length === 0) break;
          }
          // Everything visible up to now is here; what is still missing is hidden.
          lastSeq = maxSeqOnPage();
          markRead();
        } catch (error) {
          // Disconnected or refused: the next open catches up again.
        } finally {
          catchingUp = null;
        }
      })();
    }
    return catchingUp;
  }

  // --- typing: announced at most every 2 s while one writes, shown for 5 s ----------------

  const typingLine = document.getElementById("typing");
  const typists = new Map(); // username -> timer that forgets them
  let typingSent = 0;

  function showTypists() {
    const names = [...typists.keys()];
    typingLine.textContent =
      names.length === 0 ? "" :
      names.length === 1 ? `${names[0]} is typing…` :
      names.length === 2 ? `${names[0]} and ${names[1]} are typing…` :
      "Several people are typing…";
  }

  function stoppedTyping(username) {
    window.clearTimeout(typists.get(username));
    if (typists.delete(username)) showTypists();
  }

  Live.on("typing", (frame) => {
    if (frame.conversationId !== conversationId || frame.userId === me) return;
    window.clearTimeout(typists.get(frame.username));
    typists.set(frame.username, window.setTimeout(() => stoppedTyping(frame.username), 5000));
    showTypists();
  });

  textarea.addEventListener("input", () => {
    const now = Date.now();
    if (!textarea.value.trim() || now - typingSent < 2000) return;
    if (Live.send({ action: "typing", conversationId })) typingSent = now;
  });

  Live.on("message", (frame) => {
    if (frame.conversationId !== conversationId) return;
    stoppedTyping(frame.username);
    const gap = frame.seq > lastSeq + 1;
    receive(fromFrame(frame));
    if (gap) catchUp();
  });

  Live.on("messageDeleted", (frame) => {
    if (frame.conversationId !== conversationId) return;
    const node = bySeq(frame.seq);
    if (node) setBody(node, { deleted: true });
    if (editing && editing.seq === frame.seq) endContext();
  });

  Live.on("messageEdited", (frame) => {
    if (frame.conversationId !== conversationId) return;
    const node = bySeq(frame.seq);
    if (node && !node.classList.contains("deleted")) {
      setBody(node, { text: frame.message, html: frame.html, editedAt: frame.editedAt });
    }
  });

  Live.on("reaction", applyReaction);

  function applyReaction(frame) {
    if (frame.conversationId !== conversationId) return;
    const node = list.querySelector(`li[data-id="${frame.id}"]`);
    if (!node) return;
    const chips = node.querySelector(".reactions");
    let button = chips.querySelector(`.chip[data-emoji="${CSS.escape(frame.emoji)}"]`);
    if (!button) {
      if (frame.count === 0) return;
      chips.append(chip({ emoji: frame.emoji, count: frame.count, me: false }));
      button = chips.querySelector(`.chip[data-emoji="${CSS.escape(frame.emoji)}"]`);
    }
    if (frame.userId === me) {
      button.classList.toggle("pressed", frame.op === "add");
      button.setAttribute("aria-pressed", String(frame.op === "add"));
    }
    if (frame.count === 0) button.parentElement.remove();
    else button.querySelector(".count").textContent = frame.count;
  }

  // --- days, runs of one sender, the first unread ---------------------------------------

  const unreadFrom = page.readSeq; // the read cursor when the page opened
  const jump = document.getElementById("jump-unread");

  function timeOf(node) {
    const value = node.querySelector("time").getAttribute("datetime");
    return new Date(/^\d+$/.test(value) ? Number(value) : value);
  }

  function dayLabel(when) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (when.toDateString() === today.toDateString()) return "Today";
    if (when.toDateString() === yesterday.toDateString()) return "Yesterday";
    return when.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  }

  /* A day's first message carries the day; a message right after one of the same sender
     (within five minutes) is grouped under it; the first message past the read cursor the
     page opened with is marked "New messages". */
  let regroupQueued = false;
  function regroup() {
    if (regroupQueued) return;
    regroupQueued = true;
    window.requestAnimationFrame(() => {
      regroupQueued = false;
      let previous = null;
      let unreadMarked = false;
      list.querySelectorAll("li.message").forEach((node) => {
        const when = timeOf(node);
        const day = when.toDateString();
        const newDay = !previous || previous.day !== day;
        if (newDay) node.dataset.day = dayLabel(when);
        else delete node.dataset.day;
        const seq = node.dataset.seq === undefined ? null : Number(node.dataset.seq);
        const unread = !unreadMarked && seq !== null && seq > unreadFrom && !node.classList.contains("mine");
        node.classList.toggle("first-unread", unread);
        if (unread) unreadMarked = true;
        const sender = node.dataset.sender || (node.classList.contains("mine") ? String(me) : "");
        node.classList.toggle(
          "grouped",
          Boolean(previous) && !newDay && !unread && previous.sender === sender && sender !== "" &&
            when - previous.when < 5 * 60 * 1000,
        );
        previous = { day, sender, when };
      });
      if (jump) jump.hidden = !firstUnreadAbove();
    });
  }

  /* Whether the first unread message is above what the scroller shows. */
  function firstUnreadAbove() {
    const first = list.querySelector("li.first-unread");
    return Boolean(first) && first.getBoundingClientRect().top < scroller.getBoundingClientRect().top;
  }

  if (jump) {
    jump.addEventListener("click", () => {
      const first = list.querySelector("li.first-unread");
      if (first) first.scrollIntoView({ block: "center" });
      jump.hidden = true;
    });
    scroller.addEventListener("scroll", () => {
      if (!jump.hidden && !firstUnreadAbove()) jump.hidden = true;
    }, { passive: true });
  }

  // --- sending, acks and ticks -----------------------------------------------------------

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function acknowledged(clientId, ack) {
    const entry = unacked.get(clientId);
    if (!entry) return;
    unacked.delete(clientId);
    const shown = bySeq(ack.seq);
    if (shown && shown !== entry.node) {
      entry.node.remove(); // already on the page through a catch-up
      return;
    }
    setSeq(entry.node, { seq: ack.seq, id: ack.id, sender: me });
    if (ack.html) setBody(entry.node, { text: entry.text, html: ack.html });
    if (ack.attachments) setFiles(entry.node, ack.attachments);
    const time = entry.node.querySelector("time");
    time.setAttribute("datetime", String(ack.timestamp));
    Live.formatTime(time);
    // Others' messages with a lower seq may still be on their way: keep seq order.
    place(entry.node, ack.seq);
    advance();
    paintTick(entry.node);
    regroup();
  }

  function trySend(clientId) {
    const entry = unacked.get(clientId);
    if (!entry || entry.inFlight || !Live.isOpen()) return;
    entry.inFlight = true;
    const frame = { action: "sendMessage", conversationId, message: entry.text, clientId };
    if (entry.replyTo) frame.replyTo = entry.replyTo;
    if (entry.attachments.length) frame.attachments = entry.attachments.map((file) => file.id);
    Live.request(frame)
      .then((ack) => acknowledged(clientId, ack))
      .catch((error) => {
        entry.inFlight = false;
        if (error && error.action === "error") {
          if (error.code === "rate_limited") {
            window.setTimeout(() => trySend(clientId), 1500);
            return;
          }
          unacked.delete(clientId);
          entry.node.classList.add("failed");
          paintTick(entry.node, "failed");
          showNotice("Not sent: " + error.message);
        } else if (error && error.message === "timeout") {
          // Same clientId: if the first attempt went through, this returns its ack.
          window.setTimeout(() => trySend(clientId), 1000);
        }
        // Otherwise the socket went away: sent again on the next open.
      });
  }

  // An ack that came after its request timed out.
  Live.on("ack", (frame) => {
    if (frame.conversationId === conversationId) acknowledged(frame.clientId, frame);
  });

  function sentAt(node) {
    const value = node.querySelector("time").getAttribute("datetime");
    return /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  }

  function tickState(seq, at) {
    const others = Object.values(cursors).filter((c) => !(c.joined > at));
    if (others.length === 0) return "sent";
    if (others.every((c) => c.read >= seq)) return "read";
    if (others.every((c) => Math.max(c.delivered, c.read) >= seq)) return "delivered";
    return "sent";
  }

  // Told apart by shape, not only by colour: read is the heavy, filled pair.
  const TICK = {
    sending: ["…", "Sending"],
    sent: ["✓", "Sent"],
    delivered: ["✓✓", "Delivered"],
    read: ["✔✔", "Read"],
    failed: ["!", "Not sent"],
  };

  function paintTick(node, forced) {
    if (!node.classList.contains("mine")) return;
    const tick = node.querySelector(".tick");
    const state =
      forced || (node.dataset.seq === undefined ? "sending" : tickState(Number(node.dataset.seq), sentAt(node)));
    if (node.classList.contains("failed") && !forced) return;
    tick.dataset.state = state;
    tick.title = TICK[state][1];
    const words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = TICK[state][1];
    tick.replaceChildren(TICK[state][0], words);
  }

  function paintTicks() {
    list.querySelectorAll("li.mine").forEach((node) => paintTick(node));
  }

  Live.on("receipt", (frame) => {
    const cursor = frame.conversationId === conversationId && cursors[frame.userId];
    if (!cursor) return; // not (or no longer) a member here
    cursor[frame.status] = Math.max(cursor[frame.status] || 0, frame.seq);
    paintTicks();
  });

  function submit() {
    const text = textarea.value;
    if (!member) return;
    if (editing) {
      if (text.trim()) {
        showNotice("");
        saveEdit(editing, text);
      }
      return;
    }
    if (pending.some((file) => file.state === "uploading")) {
      showNotice("Wait for the files to finish uploading, or remove them.");
      return;
    }
    const attachments = pending.filter((file) => file.state === "done").map((file) => file.shape);
    if (!text.trim() && attachments.length === 0) return;
    showNotice("");
    const clientId = newClientId();
    const replyTo = replying ? { id: replying.id, seq: replying.seq, sender_username: replying.username, excerpt: replying.excerpt } : null;
    const node = build({ seq: null, sender: me, username: page.me.username, text, clientId, at: Date.now(), replyTo, attachments });
    list.append(node);
    emptyNote.hidden = true;
    paintTick(node);
    regroup();
    unacked.set(clientId, { text, node, inFlight: false, replyTo: replyTo && replyTo.id, attachments });
    clearPending();
    textarea.value = "";
    endContext();
    grow();
    scrollToBottom();
    trySend(clientId);
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });

  // --- attachments: uploaded as soon as they are chosen, dropped or pasted, with progress;
  // the message that carries them is sent once they are all in ------------------------------

  const filesList = document.getElementById("pending-files");
  const attachButton = document.getElementById("attach");
  const attachInput = document.getElementById("attach-input");
  const uploadUrl = attachInput.dataset.uploadUrl;
  const maxBytes = Number(attachInput.dataset.maxBytes);
  const csrfToken = composer.elements.csrfmiddlewaretoken.value;
  const MAX_FILES = 10;
  let pending = [];

  function paintPending() {
    filesList.hidden = pending.length === 0;
    filesList.replaceChildren(...pending.map((file) => file.node));
  }

  function pendingItem(file) {
    const item = document.createElement("li");
    item.className = "pending-file";
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.file.name || "pasted image";
    const size = document.createElement("span");
    size.className = "file-size";
    size.textContent = sizeOf(file.file.size);
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Uploading ${name.textContent}`);
    const status = document.createElement("span");
    status.className = "file-status";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link remove";
    remove.setAttribute("aria-label", `Remove ${name.textContent}`);
    remove.textContent = "✕";
    remove.addEventListener("click", () => {
      if (file.xhr) file.xhr.abort();
      // Uploaded already: the server lets it go now rather than after a day.
      if (file.state === "done") {
        fetch(`${uploadUrl}${file.shape.id}/`, {
          method: "DELETE",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
        });
      }
      pending = pending.filter((other) => other !== file);
      paintPending();
      textarea.focus();
    });
    item.append(name, " ", size, " ", bar, status, remove);
    return item;
  }

  function setState(file, state, text) {
    file.state = state;
    file.node.dataset.state = state;
    file.node.querySelector(".file-status").textContent = text || "";
    const bar = file.node.querySelector("progress");
    bar.hidden = state !== "uploading";
    if (state === "done" && file.shape.thumbnail_url) {
      const img = document.createElement("img");
      img.src = file.shape.thumbnail_url;
      img.alt = "";
      file.node.prepend(img);
    }
  }

  function upload(file) {
    if (file.file.size > maxBytes) {
      setState(file, "failed", `larger than ${sizeOf(maxBytes)}`);
      return;
    }
    const xhr = new XMLHttpRequest();
    file.xhr = xhr;
    xhr.open("POST", uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) file.node.querySelector("progress").value = (100 * event.loaded) / event.total;
    });
    xhr.addEventListener("load", () => {
      file.xhr = null;
      if (xhr.status === 201) {
        file.shape = xhr.response;
        setState(file, "done", "");
        return;
      }
      const body = xhr.response || {};
      const reason = body.detail || (body.file && body.file[0]) || `failed (${xhr.status})`;
      setState(file, "failed", reason);
    });
    xhr.addEventListener("error", () => {
      file.xhr = null;
      setState(file, "failed", "not uploaded: check the connection");
    });
    const form = new FormData();
    form.append("file", file.file, file.file.name || "pasted-image.png");
    xhr.send(form);
  }

  function addFiles(files) {
    if (!member) return;
    for (const chosen of files) {
      if (pending.length >= MAX_FILES) {
        showNotice(`At most ${MAX_FILES} files go with one message.`);
        break;
      }
      const file = { file: chosen, state: "uploading", shape: null, xhr: null };
      file.node = pendingItem(file);
      pending.push(file);
      paintPending();
      setState(file, "uploading");
      upload(file);
    }
  }

  function clearPending() {
    pending = [];
    paintPending();
  }

  attachButton.hidden = false;
  // A message may be files alone; the empty check is submit's (the form's own is for
  // browsers without this script).
  textarea.required = false;
  attachButton.addEventListener("click", () => attachInput.click());
  attachInput.addEventListener("change", () => {
    addFiles(Array.from(attachInput.files));
    attachInput.value = "";
    textarea.focus();
  });
  textarea.addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || []);
    if (files.length === 0) return;
    // A copied image comes with a text form too (its name or address): the file is meant.
    event.preventDefault();
    addFiles(files);
  });

  const thread = document.querySelector(".thread");
  const dropHint = document.getElementById("drop-hint");
  let dragDepth = 0;
  const carriesFiles = (event) => event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files");
  thread.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    dragDepth += 1;
    thread.classList.add("dropping");
    dropHint.hidden = false;
  });
  thread.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) event.preventDefault();
  });
  thread.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) {
      thread.classList.remove("dropping");
      dropHint.hidden = true;
    }
  });
  thread.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    thread.classList.remove("dropping");
    dropHint.hidden = true;
    addFiles(Array.from(event.dataTransfer.files));
    textarea.focus();
  });

  // Narrow screens: the members panel over the conversation, on demand.
  const chat = document.querySelector(".chat");
  const membersToggle = document.getElementById("members-toggle");
  function showMembers(open) {
    chat.classList.toggle("show-members", open);
    membersToggle.setAttribute("aria-expanded", String(open));
  }
  membersToggle.addEventListener("click", () => showMembers(!chat.classList.contains("show-members")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && chat.classList.contains("show-members")) showMembers(false);
  });

  // Images open full size over the page; the link still opens them in a tab of their own.
  const lightbox = document.getElementById("lightbox");
  list.addEventListener("click", (event) => {
    const link = event.target.closest("a.file-image");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || !lightbox.showModal) return;
    event.preventDefault();
    const original = lightbox.querySelector(".original");
    original.href = link.href;
    const img = document.createElement("img");
    img.src = link.href;
    img.alt = link.title;
    original.replaceChildren(img);
    lightbox.showModal();
  });
  lightbox.addEventListener("click", (event) => {
    if (event.target === lightbox) lightbox.close();
  });

  // --- @ suggestions: the members whose name starts with what follows @ ----------------------
  // From the member list on the page; when it shows only the first ones (a big room), also
  // from the API's member search, asked once per prefix.

  const suggestions = document.getElementById("mention-suggestions");
  let suggested = [];
  let chosen = 0;
  const searched = new Map(); // prefix -> usernames the API found
  let searchTimer = 0;

  function searchMembers(prefix) {
    if (!page.membersCut || !prefix || searched.has(prefix)) return;
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(async () => {
      try {
        const response = await fetch(
          `/api/conversations/${conversationId}/members/?search=${encodeURIComponent(prefix)}&limit=20`,
          { credentials: "same-origin", headers: { Accept: "application/json" } },
        );
        if (!response.ok) return;
        const body = await response.json();
        searched.set(
          prefix,
          body.results.filter((member) => member.status === "approved").map((member) => member.username),
        );
        const at = mentionAtCaret();
        if (at && at.prefix === prefix) showSuggestions();
      } catch {
        // Offline: the names on the page still suggest.
      }
    }, 150);
  }

  function mentionAtCaret() {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const found = /(^|\s)@([\w.+-]*)$/u.exec(before);
    return found ? { start: before.length - found[2].length - 1, prefix: found[2].toLowerCase() } : null;
  }

  function memberNames() {
    const names = Array.from(memberList.querySelectorAll("li.member .name"), (node) => node.textContent.trim());
    if (page.role === "admin") names.push("all");
    return names.filter((name) => name !== page.me.username);
  }

  function closeSuggestions() {
    suggested = [];
    suggestions.hidden = true;
    textarea.removeAttribute("aria-activedescendant");
  }

  function showSuggestions() {
    const at = mentionAtCaret();
    if (!at) return closeSuggestions();
    searchMembers(at.prefix);
    const names = new Set([...memberNames(), ...(searched.get(at.prefix) || [])]);
    names.delete(page.me.username);
    suggested = [...names].filter((name) => name.toLowerCase().startsWith(at.prefix)).slice(0, 6);
    if (!suggested.length) return closeSuggestions();
    chosen = Math.min(chosen, suggested.length - 1);
    suggestions.replaceChildren(
      ...suggested.map((name, index) => {
        const option = document.createElement("li");
        option.id = `mention-option-${index}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", String(index === chosen));
        option.dataset.name = name;
        option.textContent = "@" + name;
        return option;
      }),
    );
    suggestions.hidden = false;
    textarea.setAttribute("aria-activedescendant", `mention-option-${chosen}`);
  }

  function complete(name) {
    const at = mentionAtCaret();
    if (!at) return;
    const caret = textarea.selectionStart;
    textarea.value = textarea.value.slice(0, at.start) + "@" + name + " " + textarea.value.slice(caret);
    const position = at.start + name.length + 2;
    textarea.setSelectionRange(position, position);
    closeSuggestions();
    textarea.focus();
  }

  textarea.addEventListener("input", () => {
    chosen = 0;
    showSuggestions();
  });
  suggestions.addEventListener("mousedown", (event) => {
    const option = event.target.closest("li[data-name]");
    if (!option) return;
    event.preventDefault(); // keep the focus in the composer
    complete(option.dataset.name);
  });
  textarea.addEventListener("blur", () => window.setTimeout(closeSuggestions, 100));

  textarea.addEventListener("keydown", (event) => {
    if (suggested.length && !suggestions.hidden) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        chosen = (chosen + (event.key === "ArrowDown" ? 1 : suggested.length - 1)) % suggested.length;
        showSuggestions();
        return;
      }
      if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        complete(suggested[chosen]);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        closeSuggestions();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && (editing || replying)) {
      event.preventDefault();
      if (editing) textarea.value = "";
      endContext();
      grow();
    } else if (event.key === "ArrowUp" && !textarea.value && !editing) {
      // As in every chat: Up in an empty composer edits your last message.
      const last = Array.from(list.querySelectorAll("li.mine[data-seq]:not(.deleted)")).at(-1);
      if (last) {
        event.preventDefault();
        startEdit(last);
      }
    }
  });

  // --- replying, editing, reacting, deleting ---------------------------------------------

  const context = document.getElementById("composer-context");
  let replying = null; // {id, seq, username, excerpt}
  let editing = null; // {id, seq}

  function showContext(label, detail) {
    context.querySelector(".label").textContent = label;
    context.querySelector(".detail").textContent = detail;
    context.hidden = false;
  }

  function endContext() {
    replying = editing = null;
    context.hidden = true;
    composer.classList.remove("editing");
  }

  function excerptOf(node) {
    return (node.dataset.text || node.querySelector(".text").textContent || "").slice(0, 200);
  }

  function startReply(node) {
    editing = null;
    composer.classList.remove("editing");
    replying = {
      id: Number(node.dataset.id),
      seq: Number(node.dataset.seq),
      username: node.querySelector(".sender").textContent,
      excerpt: excerptOf(node),
    };
    showContext(`Replying to ${replying.username}`, replying.excerpt);
    textarea.focus();
  }

  function startEdit(node) {
    replying = null;
    editing = { id: Number(node.dataset.id), seq: Number(node.dataset.seq) };
    composer.classList.add("editing");
    showContext("Editing your message", "Enter saves, Escape cancels");
    textarea.value = node.dataset.text || node.querySelector(".text").textContent;
    grow();
    textarea.focus();
  }

  async function saveEdit(target, text) {
    try {
      const answer = await Live.request({ action: "editMessage", conversationId, id: target.id, message: text });
      const node = bySeq(target.seq);
      if (node) setBody(node, { text: answer.message, html: answer.html, editedAt: answer.editedAt });
      textarea.value = "";
      endContext();
      grow();
    } catch (error) {
      showNotice("Not saved: " + ((error && error.message) || "try again"));
    }
  }

  async function act(request, failure) {
    try {
      return await Live.request(request);
    } catch (error) {
      showNotice(failure + ((error && error.message) || "try again"));
      return null;
    }
  }

  const QUICK = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

  function closePickers() {
    list.querySelectorAll(".picker").forEach((picker) => picker.remove());
    list.querySelectorAll(".picking").forEach((node) => node.classList.remove("picking"));
  }

  function togglePicker(node) {
    const open = node.querySelector(".picker");
    closePickers();
    if (open) return;
    node.classList.add("picking");
    const picker = document.createElement("div");
    picker.className = "picker";
    picker.setAttribute("role", "menu");
    QUICK.forEach((emoji) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "pick";
      button.dataset.emoji = emoji;
      button.setAttribute("role", "menuitem");
      button.setAttribute("aria-label", `React with ${emoji}`);
      button.textContent = emoji;
      picker.append(button);
    });
    node.querySelector(".actions").append(picker);
    picker.querySelector("button").focus();
  }

  function react(node, emoji) {
    const mine = node.querySelector(`.chip.pressed[data-emoji="${CSS.escape(emoji)}"]`);
    // The answer is this socket's own `reaction` frame (the others get theirs).
    act(
      { action: mine ? "unreact" : "react", conversationId, id: Number(node.dataset.id), emoji },
      "Reaction not saved: ",
    ).then((answer) => answer && applyReaction(answer));
  }

  list.addEventListener("click", (event) => {
    const node = event.target.closest("li.message");
    if (!node || node.dataset.seq === undefined) return;
    const action = event.target.closest(".act");
    const pick = event.target.closest(".pick, .chip");
    const quote = event.target.closest(".reply-quote");
    if (quote) {
      event.preventDefault();
      jumpTo(Number(quote.dataset.seq));
    } else if (pick) {
      closePickers();
      react(node, pick.dataset.emoji);
    } else if (action) {
      const what = action.dataset.act;
      if (what === "reply") startReply(node);
      else if (what === "react") togglePicker(node);
      else if (what === "edit") startEdit(node);
      else if (what === "delete" && window.confirm("Delete this message for everyone?")) {
        act({ action: "deleteMessage", conversationId, id: Number(node.dataset.id) }, "Not deleted: ").then(
          (answer) => answer && setBody(node, { deleted: true }),
        );
      }
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && list.querySelector(".picker")) closePickers();
  });

  context.querySelector("button").addEventListener("click", () => {
    if (editing) textarea.value = "";
    endContext();
    grow();
    textarea.focus();
  });

  async function reach(seq) {
    // Older pages, 200 at a time, until the message is on the page or history ends.
    while (!bySeq(seq) && hasMore && firstSeq > seq) {
      if (loadingOlder) await new Promise((resolve) => window.setTimeout(resolve, 50));
      else if (!(await loadOlder(200))) break;
    }
    return bySeq(seq);
  }

  async function jumpTo(seq) {
    const target = await reach(seq);
    if (!target) {
      showNotice("That message is not in this conversation's history any more.");
      return;
    }
    stuck = false;
    target.scrollIntoView({ block: "center" });
    target.classList.remove("target");
    void target.offsetWidth; // restart the highlight's animation
    target.classList.add("target");
  }

  function grow() {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight, 200) + "px";
  }
  textarea.addEventListener("input", grow);

  // --- reading ---------------------------------------------------------------------------

  let readTimer = null;
  function markRead() {
    window.clearTimeout(readTimer);
    readTimer = window.setTimeout(() => {
      if (document.visibilityState !== "visible" || lastSeq <= readSent) return;
      if (Live.send({ action: "read", conversationId, seq: lastSeq })) readSent = lastSeq;
    }, 150);
  }
  document.addEventListener("visibilitychange", markRead);
  // Leaving right after a message came (to another conversation, say): say so now, not
  // after the debounce, or the list would count it as unread.
  window.addEventListener("pagehide", () => {
    window.clearTimeout(readTimer);
    if (lastSeq > readSent && Live.send({ action: "read", conversationId, seq: lastSeq })) readSent = lastSeq;
  });

  // --- older pages -----------------------------------------------------------------------

  let loadingOlder = false;
  async function loadOlder(limit = 50) {
    // Whether a page came.
    if (!hasMore || loadingOlder) return false;
    loadingOlder = true;
    olderNote.textContent = "Loading older messages…";
    try {
      const response = await fetch(
        `/api/conversations/${conversationId}/messages/?before_seq=${firstSeq}&limit=${limit}`,
        { credentials: "same-origin", headers: { Accept: "application/json" } },
      );
      if (!response.ok) throw new Error(String(response.status));
      const body = await response.json();
      const height = scroller.scrollHeight;
      const top = list.firstElementChild;
      list.setAttribute("aria-busy", "true"); // history, not news: not read out
      body.results.forEach((item) => {
        if (bySeq(item.seq)) return;
        const node = build(fromRest(item));
        list.insertBefore(node, top);
        paintTick(node);
      });
      if (body.results.length) firstSeq = body.results[0].seq;
      regroup();
      hasMore = body.has_more;
      scroller.scrollTop += scroller.scrollHeight - height;
      olderNote.textContent = "Scroll up for older messages";
      olderNote.hidden = !hasMore;
      window.setTimeout(() => list.removeAttribute("aria-busy"));
      return true;
    } catch (error) {
      olderNote.textContent = "Could not load older messages. Scroll up to try again.";
      return false;
    } finally {
      loadingOlder = false;
    }
  }
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < 150) loadOlder();
  }, { passive: true });

  // --- members ---------------------------------------------------------------------------

  function memberRow(userId, username, status, role) {
    const node = Live.clone("tpl-member");
    node.dataset.user = userId;
    node.dataset.role = role;
    node.dataset.status = status;
    node.querySelector(".name").textContent = username;
    node.querySelectorAll("[data-who]").forEach((who) => { who.textContent = username; });
    node.querySelector("[data-role-label]").textContent = role === "admin" ? "admin" : "";
    node.querySelector(".you").hidden = userId !== me;
    const controls = node.querySelector(".controls");
    if (controls) {
      controls.hidden = userId === me;
      controls.querySelectorAll("form").forEach((form) => {
        const action = form.dataset.action;
        form.action = `${memberBase}${userId}/${action}/`;
        const forPending = action === "approve" || action === "reject";
        let show = status === "pending" ? forPending : !forPending;
        if (show && form.dataset.showRole) show = form.dataset.showRole === role;
        form.hidden = !show;
      });
    }
    return node;
  }

  function refreshCounts() {
    const count = document.getElementById("member-count");
    if (count) count.textContent = memberList.children.length;
    const noPending = document.getElementById("no-pending");
    if (noPending && pendingList) noPending.hidden = pendingList.children.length > 0;
  }

  function upsertMember(userId, username, status, role) {
    const old = document.querySelectorAll(`li.member[data-user="${userId}"]`);
    const hadFocus = Array.from(old).some((node) => node.contains(document.activeElement));
    old.forEach((node) => node.remove());
    let row = null;
    if (status === "approved") memberList.append((row = memberRow(userId, username, status, role)));
    else if (status === "pending" && pendingList) pendingList.append((row = memberRow(userId, username, status, role)));
    refreshCounts();
    if (hadFocus) {
      // Keep keyboard users where they were: on the member's row, or on the list.
      const target = row || memberList;
      target.tabIndex = -1;
      target.focus();
    }
  }

  Live.on("membership", (frame) => {
    if (frame.conversationId !== conversationId) return;
    if (frame.userId === me) {
      if (frame.status !== "approved") {
        member = false;
        composer.querySelectorAll("textarea, button").forEach((node) => { node.disabled = true; });
        // Not listed, not counted, and nothing left to do here: no Leave, no admin forms.
        upsertMember(me, frame.username, frame.status, frame.role);
        document.querySelectorAll(".side form, .side .pending").forEach((node) => { node.hidden = true; });
        showNotice(
          frame.status === "banned"
            ? "You were banned from this conversation."
            : "You are no longer a member of this conversation.",
        );
        return;
      }
      if (!member || frame.role !== page.role) {
        window.location.reload(); // back in, or in another role: the page is built anew
        return;
      }
    }
    if (frame.status === "approved" && frame.userId !== me) {
      cursors[frame.userId] = cursors[frame.userId] || { delivered: 0, read: 0, joined: Date.now() };
    } else {
      delete cursors[frame.userId];
    }
    upsertMember(frame.userId, frame.username, frame.status, frame.role);
    paintTicks();
  });

  Live.on("joinRequest", (frame) => {
    if (frame.roomId !== conversationId || !pendingList) return;
    upsertMember(frame.userId, frame.username, "pending", "member");
    Live.toast(`${frame.username} asks to join.`);
  });

  Live.on("error", (frame) => showNotice(frame.message));

  // --- start -----------------------------------------------------------------------------

  Live.onOpen(() => {
    catchUp();
    unacked.forEach((entry, clientId) => trySend(clientId));
  });

  // Opened at the newest message, and kept there while anything still changes the height
  // (times being written out, the composer sizing itself, fonts) until the reader scrolls.
  let stuck = true;
  scroller.addEventListener("scroll", () => { stuck = nearBottom(); }, { passive: true });
  const keepAtBottom = new ResizeObserver(() => { if (stuck) scrollToBottom(); });
  keepAtBottom.observe(list);
  keepAtBottom.observe(scroller);

  if (page.role === "admin") list.classList.add("can-moderate");
  markMentions(list);
  paintTicks();
  Live.formatTimes(list);
  regroup();
  grow();
  scrollToBottom();
  // Opened from a search result (or any link to a message): at that message.
  const at = Number(new URLSearchParams(window.location.search).get("at"));
  if (Number.isInteger(at) && at > 0) jumpTo(at);
  else if (hasMore && scroller.scrollHeight <= scroller.clientHeight) loadOlder();
  textarea.focus();
})();
