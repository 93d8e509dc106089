// The operator's event stream over a WebSocket, reconnected automatically. After a
// reconnect it asks for the items after the last one seen (?since=N); each item is
// handed over once, in order. onReset runs when the page must reload its state (the
// first connection, or a stream the server no longer has).
export class Stream {
  constructor({onItem, onEphemeral, onReset, onStatus}) {
    this.onItem = onItem;
    this.onEphemeral = onEphemeral;
    this.onReset = onReset;
    this.onStatus = onStatus;
    this.lastSeq = null;
    this.retryMs = 300;
    this.ws = null;
    this.serverOffsetMs = 0;
  }

  start() {
    const url = new URL("/api/v1/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (this.lastSeq !== null) url.searchParams.set("since", String(this.lastSeq));
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.onStatus(false);
      setTimeout(() => this.start(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10000);
    });
  }

  async receive(message) {
    if (message.type === "hello") {
      this.retryMs = 300;
      this.serverOffsetMs = Date.parse(message.server_time) - Date.now();
      // The server no longer has what came after our last item: start afresh.
      const reset = this.lastSeq === null || message.reset;
      if (reset) this.lastSeq = message.seq;
      this.onStatus(true);
      if (reset) await this.onReset();
      return;
    }
    if (message.seq === undefined) {
      this.onEphemeral(message);
      return;
    }
    if (this.lastSeq !== null && message.seq <= this.lastSeq) return;
    this.lastSeq = message.seq;
    this.onItem(message);
  }

  // The server's clock, for countdowns that do not depend on the browser's.
  now() {
    return Date.now() + this.serverOffsetMs;
  }
}
