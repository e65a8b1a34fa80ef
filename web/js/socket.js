// One WebSocket per tab. It always opens with `?resume=true` and sends `resume` with the last seq it
// holds per channel as its first frame, so after any drop (network, a rolling restart's 1012, a node
// killed outright, a slow-consumer close) the server replays exactly what was missed. Reconnects back
// off exponentially with jitter; a silent socket is detected with application pings.

import { accessToken, hasRefresh, refresh } from './api.js';

const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;
const MAX_BACKOFF_MS = 15000;

export class Socket {
  /**
   * @param {{since: () => object, onEvent: (e: object) => void, onState: (s: string, info: object) => void,
   *          onHello: (hello: object) => void, onEnded: (reason: string) => void}} hooks
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.ws = null;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000, 'signed out');
  }

  state(name, info = {}) {
    this.current = name;
    this.hooks.onState(name, info);
  }

  open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/api/v1/ws?resume=true`;
    const token = accessToken();
    let ws;
    try {
      ws = token ? new WebSocket(url, ['rustchat.bearer', token]) : new WebSocket(url);
    } catch {
      this.retry(false);
      return;
    }
    this.ws = ws;
    this.state(this.attempt === 0 ? 'connecting' : 'reconnecting', { attempt: this.attempt });
    ws.onmessage = (m) => this.receive(ws, m);
    ws.onclose = (c) => this.closed(ws, c);
  }

  receive(ws, message) {
    let e;
    try { e = JSON.parse(message.data); } catch { return; }
    if (e.event === 'hello') {
      this.attempt = 0;
      this.node = e.data?.node_id ?? '';
      ws.send(JSON.stringify({ action: 'resume', id: 'resume', since: this.hooks.since() }));
      this.keepAlive(ws);
      this.state('open', { node: this.node });
      this.hooks.onHello(e.data ?? {});
      return;
    }
    if (e.event === 'pong') { this.lastPong = Date.now(); return; }
    if (e.event === 'reply') {
      const p = this.pending.get(String(e.id));
      if (p) {
        this.pending.delete(String(e.id));
        if (e.status === 'ok') p.resolve(e.data ?? {});
        else p.reject(new Error(e.error?.message ?? 'refused'));
      }
      return;
    }
    this.hooks.onEvent(e);
  }

  keepAlive(ws) {
    clearInterval(this.pingTimer);
    this.lastPong = Date.now();
    this.pingTimer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastPong > PING_EVERY_MS + PONG_WITHIN_MS) { ws.close(4000, 'no pong'); return; }
      ws.send(JSON.stringify({ action: 'ping', id: `p${this.nextId++}` }));
    }, PING_EVERY_MS);
  }

  closed(ws, close) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    for (const p of this.pending.values()) p.reject(new Error('connection lost'));
    this.pending.clear();
    if (this.stopped) return;
    if (close.code === 4003) {
      this.state('ended', { reason: close.reason });
      this.hooks.onEnded(close.reason);
      return;
    }
    this.state('reconnecting', { code: close.code, attempt: this.attempt });
    this.retry(close.code === 4001);
  }

  retry(refreshFirst) {
    const base = Math.min(MAX_BACKOFF_MS, 300 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(async () => {
      // A handshake refused for an expired token looks like any failed connect: refresh after a few.
      if (hasRefresh() && (refreshFirst || this.attempt % 4 === 3)) await refresh().catch(() => {});
      if (!this.stopped) this.open();
    }, delay);
  }

  /** Sends an action; resolves with the reply's data. */
  request(action) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
    const id = `a${this.nextId++}`;
    ws.send(JSON.stringify({ ...action, id }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** Sends an action without waiting for a reply (typing). */
  notify(action) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(action));
  }

  /** A fresh access token for the open socket, so it outlives the old one. */
  authenticate(token) {
    if (token) this.request({ action: 'authenticate', token }).catch(() => {});
  }
}
