// Frontend plugins use connectHost; the console uses serveHost or createInjectedHost.
export * from "./protocol.js";
export { connectHost, postMessageTransport, type ConnectOptions, type PluginHost, type PostMessageOptions, type MessageTarget, type MessageEvents } from "./plugin.js";
export { serveHost, createInjectedHost, type HostHandlers, type ServeOptions, type ServedHost } from "./console.js";
