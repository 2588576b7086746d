// Preloaded (node --import) into MCP reference servers that listen on every interface:
// a listen() call that names no host binds 127.0.0.1, so tests never open a port to the
// network.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first, second] = args;
  if (typeof first === "number" && (args.length === 1 || typeof second === "function")) {
    args.splice(1, 0, "127.0.0.1");
  } else if (first && typeof first === "object" && first.port !== undefined && first.host === undefined) {
    args[0] = { ...first, host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
