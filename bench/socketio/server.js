// bench/ws_fanout.py's "socketio" target: the room broadcast a team would write with
// Socket.IO instead of Channels, as bare as bench/bare_chat.py. Each socket joins the room
// named in its query string; whatever it emits goes to the whole room, itself included (as
// the bare consumer's group_send does), and nothing is stored. Stock options: the default
// in-memory adapter, no connection state recovery, no compression. One process.
//
//     PORT=8002 node bench/socketio/server.js

const { createServer } = require("node:http");
const { Server } = require("socket.io");

const httpServer = createServer();
const io = new Server(httpServer);

io.on("connection", (socket) => {
  const room = socket.handshake.query.room;
  socket.join(room);
  socket.on("chat message", (message) => {
    io.to(room).emit("chat message", message);
  });
});

httpServer.listen(Number(process.env.PORT), "127.0.0.1");
