// The client's state in one place, and a tiny publish/subscribe so views redraw what changed.

import { get } from './api.js';

export const state = {
  me: null,
  teams: [],
  teamId: null,
  /** id → MyChannel (the channel with my unread and mention counts). */
  channels: new Map(),
  /** id → highest seq seen: what `resume` sends. */
  lastSeq: new Map(),
  /** id → PublicUser */
  users: new Map(),
  /** user id → 'online' | 'away' | 'offline' */
  presence: new Map(),
  /** DM and group channel id → member list */
  members: new Map(),
  currentId: null,
  threadRootId: null,
  connection: 'connecting',
  node: '',
};

const subscribers = new Map();

export function on(topic, fn) {
  if (!subscribers.has(topic)) subscribers.set(topic, new Set());
  subscribers.get(topic).add(fn);
}

export function emit(topic, data) {
  for (const fn of subscribers.get(topic) ?? []) fn(data);
}

/** True when a channel event is new (by `(channel, seq)`), and records it; ephemeral events pass. */
export function accept(event) {
  const seq = event.seq ?? 0;
  if (!event.channel_id || seq <= 0) return true;
  const last = state.lastSeq.get(event.channel_id) ?? 0;
  if (seq <= last) return false;
  state.lastSeq.set(event.channel_id, seq);
  return true;
}

/** Loads my channels (all teams) with read state; keeps the higher seq we may already hold. */
export async function loadChannels() {
  const list = await get('/users/me/channels');
  state.channels = new Map(list.map((c) => [c.id, c]));
  for (const c of list) {
    const have = state.lastSeq.get(c.id) ?? 0;
    if (!have) state.lastSeq.set(c.id, c.last_seq);
  }
  emit('channels');
}

const pendingUsers = new Map();
/** A user by id, fetched once. */
export async function user(id) {
  if (state.users.has(id)) return state.users.get(id);
  if (!pendingUsers.has(id)) {
    pendingUsers.set(id, get(`/users/${id}`).then((u) => { state.users.set(id, u); return u; })
      .catch(() => ({ id, username: 'unknown', display_name: '' })).finally(() => pendingUsers.delete(id)));
  }
  return pendingUsers.get(id);
}

export function displayName(u) {
  return u.display_name ? `${u.display_name} (@${u.username})` : `@${u.username}`;
}

/** The name to show for a channel: DMs and groups by their other members. */
export async function channelLabel(c) {
  if (c.kind !== 'direct' && c.kind !== 'group') return c.display_name || c.name;
  let members = state.members.get(c.id);
  if (!members) {
    members = await get(`/channels/${c.id}/members`).catch(() => []);
    state.members.set(c.id, members);
  }
  const others = members.filter((m) => m.user_id !== state.me.id).map((m) => m.display_name || m.username);
  return others.length ? others.join(', ') : `${state.me.username} (you)`;
}

export function currentChannel() {
  return state.channels.get(state.currentId) ?? null;
}
