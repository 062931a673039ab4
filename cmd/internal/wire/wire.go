// Package wire holds the small constructors the server binaries (cmd/local,
// cmd/api, cmd/ws) build themselves from beside what the adapters offer
// (stores.Service, handlers.ConfigFrom, observe.ConfigFrom): the access
// checks of the HTTP API (Access), the request Observer with its sinks
// (Observability) and the HTTP API's admission limiter (Admission). Each
// binary calls only what it serves; nothing here imports a transport, so
// the WebSocket Lambda links no HTTP API.
package wire
