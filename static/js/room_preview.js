/* A room one is not a member of: when an admin answers one's request, the page shows the
   answer at once (approved: the room itself), as /rooms/ does. */
"use strict";

(function () {
  const Live = window.Live;
  const state = document.getElementById("room-state");
  if (!state) return;
  const roomId = Number(state.dataset.roomId);
  const shown = state.dataset.status;

  // The server renders the new state: the conversation once approved, else the form.
  Live.on("joinResponse", (frame) => {
    if (frame.roomId === roomId && frame.status !== "pending") window.location.reload();
  });

  // An answer given while this socket was not yet (or no longer) connected.
  Live.onOpen(async () => {
    const response = await fetch(`/api/conversations/${roomId}/`, { credentials: "same-origin" });
    if (!response.ok) return;
    const room = await response.json();
    if ((room.status || "") !== shown) window.location.reload();
  });
})();
