// Mattermost's own WebSocketClient (@mattermost/client) against RustChat's /api/v4/websocket on two
// nodes: hello, posted (post as a JSON string) and the other events with gapless seq, typing between
// two clients, and a reconnect after `kill -9` of the node the socket was on: the client resumes on
// the other node with its connection_id and sequence_number and misses nothing (no new hello).
// Prints {"passed":N} or exits 1.
'use strict';
const assert = require('node:assert/strict');
const WS = require('ws');

// Node 20 has neither a global WebSocket nor CloseEvent; the client needs both (its README says so).
globalThis.WebSocket = WS;
globalThis.CloseEvent = class CloseEvent extends Event {
  constructor(type, init = {}) {
    super(type);
    this.code = init.code;
    this.wasClean = init.wasClean;
  }
};
const { Client4, WebSocketClient } = require('@mattermost/client');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
let passed = 0;
const check = (what, fn) => fn().then(() => { passed += 1; }, (e) => { e.message = `${what}: ${e.message}`; throw e; });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function client(base) {
  const c = new Client4();
  c.setUrl(base);
  return c;
}

// A socket whose node the test chooses (as a load balancer would), recording every frame.
function socket(c, host) {
  const s = { events: [], seqs: [], missed: 0, host, replies: [] };
  s.ws = new WebSocketClient({
    minWebSocketRetryTime: 200,
    reconnectJitterRange: 50,
    newWebSocketFn: (url) => {
      const u = new URL(url);
      const target = new URL(s.host);
      u.protocol = 'ws:';
      u.host = target.host;
      const conn = new WS(u.toString());
      conn.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if ('seq_reply' in m) s.replies.push(m);
        else s.seqs.push(m.seq);
      });
      return conn;
    },
  });
  s.ws.addMessageListener((m) => s.events.push(m));
  s.ws.addMissedMessageListener(() => { s.missed += 1; });
  s.ws.initialize(c.getWebSocketUrl(), c.getToken());
  return s;
}

const timings = {};

async function until(what, fn, ms = 15000, step = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(step);
  }
}

const posted = (s, message) => s.events.find((e) => e.event === 'posted' && JSON.parse(e.data.post).message === message);

async function main() {
  const [base0, base1] = [env('MM_BASE0'), env('MM_BASE1')];
  const alice = client(base0);
  const bob = client(base1);
  const me = await alice.login(env('MM_ALICE'), env('MM_ALICE_PASSWORD'));
  const bobMe = await bob.login(env('MM_BOB'), env('MM_BOB_PASSWORD'));
  const team = (await alice.getMyTeams()).find((t) => t.name === env('MM_TEAM'));
  const channel = (await alice.getMyChannels(team.id)).find((c) => c.name === env('MM_CHANNEL'));
  const a = socket(alice, base0);
  const b = socket(bob, base1);
  let connectionId;

  await check('hello first, with seq 0 and a connection id', async () => {
    const hello = await until('hello', () => a.events.find((e) => e.event === 'hello'));
    assert.equal(a.seqs[0], 0);
    assert.equal(hello.broadcast.user_id, me.id);
    assert.match(hello.data.connection_id, /^[a-z0-9]{26}$/);
    assert.ok(hello.data.server_version.startsWith('9.11.0'));
    connectionId = a.ws.connectionId;
    assert.equal(connectionId, hello.data.connection_id);
    await until('bob hello', () => b.events.find((e) => e.event === 'hello'));
    await until('the ping answered', () => a.replies.find((r) => r.status === 'OK' && r.data && r.data.text === 'pong'));
    // The challenge (the client's action 1) was answered OK, with no seq of its own.
    await until('the challenge answered', () => a.replies.find((r) => r.seq_reply === 1 && r.status === 'OK' && !('seq' in r)));
  });
  let post;
  await check('posted, live from the other node, in Mattermost shape', async () => {
    const sentAt = Date.now();
    post = await bob.createPost({ channel_id: channel.id, message: 'live 1' });
    const e = await until('posted', () => posted(a, 'live 1'), 15000, 1);
    timings.live_ms = Date.now() - sentAt;
    const p = JSON.parse(e.data.post);
    assert.equal(p.id, post.id);
    assert.equal(p.user_id, bobMe.id);
    assert.equal(e.broadcast.channel_id, channel.id);
    assert.equal(e.data.channel_type, 'O');
    assert.equal(e.data.channel_name, channel.name);
    assert.equal(e.data.team_id, team.id);
    assert.equal(e.data.sender_name, `@${bobMe.username}`);
  });
  await check('edits, reactions, replies and deletions arrive in order', async () => {
    await bob.patchPost({ id: post.id, message: 'live 1, edited' });
    await bob.addReaction(bobMe.id, post.id, 'smile');
    const reply = await alice.createPost({ channel_id: channel.id, message: 'in thread', root_id: post.id });
    await bob.deletePost(post.id);
    await until('post_deleted', () => a.events.find((e) => e.event === 'post_deleted'));
    const names = a.events.map((e) => e.event).filter((n) => n !== 'status_change' && n !== 'typing');
    assert.deepEqual(names.slice(-5), ['posted', 'post_edited', 'reaction_added', 'posted', 'post_deleted']);
    assert.equal(JSON.parse(a.events.find((e) => e.event === 'post_edited').data.post).message, 'live 1, edited');
    assert.equal(JSON.parse(a.events.find((e) => e.event === 'reaction_added').data.reaction).emoji_name, 'smile');
    assert.equal(JSON.parse(posted(a, 'in thread').data.post).root_id, post.id);
    assert.equal(JSON.parse(a.events.find((e) => e.event === 'post_deleted').data.post).id, post.id);
    assert.ok(reply.id);
  });
  await check('typing goes to the other members', async () => {
    a.ws.userTyping(channel.id, '');
    const t = await until('typing', () => b.events.find((e) => e.event === 'typing'));
    assert.equal(t.data.user_id, me.id);
    assert.equal(t.broadcast.channel_id, channel.id);
    assert.ok(!a.events.some((e) => e.event === 'typing'), 'not to the typist');
  });
  await check('seq counts every event from 0 with no gap', async () => {
    assert.deepEqual(a.seqs, a.seqs.map((_, i) => i));
    assert.deepEqual(b.seqs, b.seqs.map((_, i) => i));
  });
  await check('after kill -9 of its node, the client resumes on the other node and misses nothing', async () => {
    const before = a.seqs.length;
    a.host = base1; // the "load balancer" now sends it to the surviving node
    const killedAt = Date.now();
    process.kill(Number(env('MM_NODE0_PID')), 'SIGKILL');
    await until('the socket to drop', () => a.ws.conn === null || a.ws.connectFailCount > 0);
    for (let i = 0; i < 3; i += 1) await bob.createPost({ channel_id: channel.id, message: `while away ${i}` });
    await until('the three posts', () => posted(a, 'while away 2'), 20000, 1);
    timings.kill_to_resumed_ms = Date.now() - killedAt;
    const away = a.events.filter((e) => e.event === 'posted' && JSON.parse(e.data.post).message.startsWith('while away'));
    assert.deepEqual(away.map((e) => JSON.parse(e.data.post).message), ['while away 0', 'while away 1', 'while away 2']);
    assert.equal(a.ws.connectionId, connectionId, 'same connection: no new hello');
    assert.equal(a.events.filter((e) => e.event === 'hello').length, 1);
    assert.equal(a.missed, 0);
    assert.deepEqual(a.seqs.slice(before).filter((s) => s !== undefined), a.seqs.slice(before).map((_, i) => before + i));
  });
  a.ws.close();
  b.ws.close();
  console.log(JSON.stringify({ passed, ...timings }));
  process.exit(0);
}

main().catch((e) => {
  console.error(`FAILED after ${passed} passed checks: ${e.stack || e}`);
  process.exit(1);
});
