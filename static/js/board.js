/* A board: new posts appear live (filtered by the page's topic, if any). */
"use strict";

(function () {
  const Live = window.Live;
  const boardId = Live.data.boardId;
  const topic = Live.data.topic;
  const posts = document.getElementById("posts");
  const empty = document.getElementById("no-posts");

  function show(post) {
    if (topic && post.topic !== topic) return;
    if (posts.querySelector(`li[data-id="${post.id}"]`)) return;
    const node = Live.clone("tpl-post");
    node.dataset.id = post.id;
    node.dataset.topic = post.topic;
    const chip = node.querySelector(".topic");
    chip.textContent = post.topic;
    chip.href = `?topic=${encodeURIComponent(post.topic)}`;
    node.querySelector(".author").textContent = post.username;
    node.querySelector(".text").textContent = post.data;
    const time = node.querySelector("time");
    time.setAttribute("datetime", post.createdAt);
    Live.formatTime(time);
    const older = Array.from(posts.children).find((li) => Number(li.dataset.id) < post.id);
    posts.insertBefore(node, older || null);
    empty.hidden = true;
  }

  Live.on("type:message", (frame) => {
    if (frame.boardId === boardId) show(frame.message);
  });

  // Subscribe, then fetch the newest page: what was posted before the subscription (since
  // the page was rendered, or while disconnected) shows up too.
  Live.onOpen(async () => {
    Live.send({ action: "subscribe", boardId });
    const query = topic ? `?topic=${encodeURIComponent(topic)}` : "";
    const response = await fetch(`/api/boards/${boardId}/messages/${query}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const body = await response.json();
    body.results.forEach((item) =>
      show({ id: item.id, topic: item.topic, data: item.data, username: item.username, createdAt: item.created_at }),
    );
  });
})();
