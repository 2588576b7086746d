// Preloaded (node --import) into MCP reference servers that listen on every interface:
// a listen() call that names no host binds 127.0.0.1, so tests never open a port to the
// network.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first, second] = args;
  // A port from the environment arrives as a string of digits (server-everything passes
  // process.env.PORT as it is); it names a port just as a number does.
  const isPort = typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first));
  if (isPort && (args.length === 1 || typeof second === "function")) {
    args[0] = Number(first);
    args.splice(1, 0, "127.0.0.1");
  } else if (first && typeof first === "object" && first.port !== undefined && first.host === undefined) {
    args[0] = { ...first, host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
