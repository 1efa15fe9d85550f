/* Rooms: a request's answer shows up live. */
"use strict";

(function () {
  const Live = window.Live;

  function stateOf(roomId) {
    return document.querySelector(`li.room[data-id="${roomId}"] .state`);
  }

  Live.on("joinResponse", (frame) => {
    const state = stateOf(frame.roomId);
    if (!state) return;
    state.dataset.status = frame.status;
    state.replaceChildren();
    if (frame.status === "approved") {
      const open = document.createElement("a");
      open.className = "button primary";
      open.href = `/c/${frame.roomId}/`;
      open.textContent = "Open";
      state.append(open);
      Live.toast("Your request was approved.");
    } else {
      const pill = document.createElement("span");
      pill.className = "pill";
      pill.textContent = frame.status === "pending" ? "Request pending" : "Request turned down";
      state.append(pill);
    }
  });
})();
