/* A board: new posts appear live (filtered by the page's topic, if any). */
"use strict";

(function () {
  const Live = window.Live;
  const boardId = Live.data.boardId;
  const topic = Live.data.topic;
  const posts = document.getElementById("posts");
  const empty = document.getElementById("no-posts");

  Live.onOpen(() => Live.send({ action: "subscribe", boardId }));

  Live.on("type:message", (frame) => {
    const post = frame.message;
    if (frame.boardId !== boardId || (topic && post.topic !== topic)) return;
    if (posts.querySelector(`li[data-id="${post.id}"]`)) return;
    const node = Live.clone("tpl-post");
    node.dataset.id = post.id;
    node.dataset.topic = post.topic;
    node.querySelector(".topic").textContent = post.topic;
    node.querySelector(".author").textContent = post.username;
    node.querySelector(".text").textContent = post.data;
    const time = node.querySelector("time");
    time.setAttribute("datetime", post.createdAt);
    Live.formatTime(time);
    posts.prepend(node);
    empty.hidden = true;
  });
})();
