// The client's entry: sign-in or the chat shell, client-side paths (`/channels/{id}`, `/admin`), the
// WebSocket's events routed to the views, and catching up (channels, unread counts) after reconnects.

import * as api from './api.js';
import { showAdmin } from './admin.js';
import { exchangeSsoCode, showSignIn } from './auth.js';
import { composer } from './composer.js';
import { formDialog, modal } from './dialogs.js';
import { announce, h } from './dom.js';
import { jumpTo, messageList, openChannel, react, remove, replied, upsert } from './messages.js';
import { Socket } from './socket.js';
import { accept, channelLabel, currentChannel, loadChannels, on, state, user } from './state.js';
import { createTeam, drawSidebar, refreshPresence, sidebar } from './sidebar.js';
import { add as addToThread, closeThread, openThread, removeFromThread, threadPanel } from './thread.js';

const root = document.getElementById('app');
const CONNECTION_TEXT = { connecting: 'Connecting…', open: 'Connected', reconnecting: 'Reconnecting…', ended: 'Signed out' };

let socket = null;
/** The open channel's message box. */
let mainComposer = null;
const connection = h('span', { id: 'connection', class: 'connection', role: 'status', 'aria-live': 'polite' });
const typingLine = h('div', { id: 'typing', class: 'typing', 'aria-live': 'polite' });
const main = h('main', { id: 'main', class: 'channel-view', 'aria-labelledby': 'channel-title' });
const typers = new Map();

function setConnection(name, info) {
  if (name === 'reconnecting' && state.connection === 'open') connection.dataset.drops = String(Number(connection.dataset.drops ?? 0) + 1);
  state.connection = name;
  connection.dataset.state = name;
  if (info.node) { state.node = info.node; connection.dataset.node = info.node; }
  connection.textContent = CONNECTION_TEXT[name] ?? name;
  if (name === 'reconnecting' && info.attempt === 0) announce('Connection lost: reconnecting…', 'warn');
}

const mentionsMe = (m, c) => c.kind === 'direct' || c.kind === 'group' || !!m?.channel || !!m?.here || (m?.usernames ?? []).includes(state.me.username);

let viewTimer = null;
function markViewedSoon() {
  clearTimeout(viewTimer);
  const id = state.currentId;
  viewTimer = setTimeout(() => {
    // Only a channel still on screen is marked read (a switch away cancels it).
    if (id && id === state.currentId && document.visibilityState === 'visible') api.post(`/channels/${id}/view`).catch(() => {});
  }, 800);
}

function showTyping() {
  const now = Date.now();
  const names = [...typers.entries()].filter(([, t]) => t.until > now && t.channel === state.currentId).map(([, t]) => t.name);
  typingLine.textContent = names.length ? `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…` : '';
}
setInterval(showTyping, 1000);

let duplicates = 0;
/** channel → highest seq this tab's sockets delivered (REST loads may know more: see `accept`). */
const delivered = new Map();
function onEvent(e) {
  if (e.seq > 0 && e.channel_id) {
    // The server promises each (channel, seq) once per socket history; count any repeat it sends
    // (the browser test checks 0). Events older than a REST load are dropped below, not counted.
    const before = delivered.get(e.channel_id) ?? 0;
    if (e.seq <= before) {
      connection.dataset.duplicates = String(++duplicates);
      connection.dataset.lastDuplicate = `${e.event} ${e.channel_id} seq ${e.seq} (had ${before}) after ${helloCount} hello(s)`;
    }
    delivered.set(e.channel_id, Math.max(before, e.seq));
  }
  if (!accept(e)) return;
  const c = state.channels.get(e.channel_id);
  const d = e.data ?? {};
  const here = e.channel_id === state.currentId;
  switch (e.event) {
    case 'posted': {
      const p = d.post;
      if (c) c.last_seq = Math.max(c.last_seq, e.seq);
      typers.delete(p.user_id);
      showTyping();
      if (here) {
        upsert(p);
        if (p.root_id) { replied(p.root_id); addToThread(p); }
        markViewedSoon();
      } else if (c && p.user_id !== state.me.id) {
        c.unread_count += 1;
        if (mentionsMe(d.mentions, c)) c.mention_count += 1;
        drawSidebar();
      } else if (!c) loadChannels().catch(() => {});
      break;
    }
    case 'post_edited': if (here) upsert(d.post); addToThread(d.post); break;
    case 'post_deleted': if (here) remove(d.post_id); removeFromThread(d.post_id); break;
    case 'reaction_added': case 'reaction_removed': react(d.reaction, e.event === 'reaction_added'); break;
    case 'member_added': case 'member_removed':
      state.members.delete(e.channel_id);
      if (d.user_id === state.me.id) loadChannels().then(() => { if (e.event === 'member_removed' && here) navigate('/', true); }).catch(() => {});
      break;
    case 'channel_updated': if (c) { Object.assign(c, d); drawSidebar(); if (here) drawHeader(); } break;
    case 'typing':
      if (d.user_id !== state.me.id) user(d.user_id).then((u) => {
        typers.set(d.user_id, { name: u.display_name || u.username, until: Date.now() + 5000, channel: e.channel_id });
        showTyping();
      });
      break;
    case 'presence': state.presence.set(d.user_id, d.status); drawSidebar(); break;
    case 'channel_viewed': if (c) { c.unread_count = 0; c.mention_count = 0; drawSidebar(); } break;
    default: break;
  }
}

let helloCount = 0;
function onHello() {
  helloCount += 1;
  // After a reconnect the resume replays what was missed; the counts of other channels catch up here.
  if (helloCount > 1) loadChannels().then(refreshPresence).catch(() => {});
  else refreshPresence().catch(() => {});
}

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  route();
}

async function drawHeader() {
  const c = currentChannel();
  if (!c) return;
  const title = document.getElementById('channel-title');
  const label = await channelLabel(c);
  title.textContent = c.kind === 'public' ? `# ${label}` : c.kind === 'private' ? `🔒 ${label}` : label;
  document.getElementById('channel-purpose').textContent = [c.purpose, c.header].filter(Boolean).join(' — ');
  document.title = `${label} · RustChat`;
}

function channelShell() {
  const leave = h('button', { type: 'button', class: 'small', onclick: leaveChannel }, 'Leave');
  const header = h('header', { class: 'channel-header' },
    h('div', {}, h('h1', { id: 'channel-title', tabindex: '-1' }), h('p', { id: 'channel-purpose', class: 'muted' })),
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'small', onclick: editChannel, id: 'edit-channel' }, 'Edit'),
      h('button', { type: 'button', class: 'small', onclick: showMembers }, 'Members'), leave));
  // A post sent while the newest posts are scrolled out of the window: back to the newest page.
  const box = composer({ label: 'Write a message', channelId: () => state.currentId, socket, onSent: (p) => { if (upsert(p) === 'hidden') openChannel(p.channel_id, 0); } });
  box.form.id = 'composer';
  mainComposer = box;
  main.replaceChildren(header, messageList(), typingLine, box.form);
  return leave;
}

// Files dropped anywhere on the channel go to its message box (the thread's box takes its own drops).
main.addEventListener('dragover', (e) => {
  if (mainComposer && document.contains(mainComposer.form) && [...(e.dataTransfer?.types ?? [])].includes('Files')) e.preventDefault();
});
main.addEventListener('drop', (e) => {
  if (!mainComposer || !document.contains(mainComposer.form) || !e.dataTransfer?.files?.length) return;
  e.preventDefault();
  mainComposer.addFiles(e.dataTransfer.files);
  mainComposer.area.focus();
});

async function route() {
  closeThread();
  const path = location.pathname;
  document.querySelectorAll('#sidebar a[aria-current]').forEach((a) => a.removeAttribute('aria-current'));
  if (path === '/admin' && state.me.is_system_admin) { state.currentId = null; drawSidebar(); await showAdmin(main, state.me); return; }
  const m = path.match(/^\/channels\/([0-9a-fA-F-]{36})$/);
  let id = m && state.channels.has(m[1]) ? m[1] : null;
  if (!id) {
    const first = [...state.channels.values()].find((c) => c.team_id === state.teamId && !c.archived_at)
      ?? [...state.channels.values()].find((c) => !c.archived_at);
    if (first) { navigate(`/channels/${first.id}`, true); return; }
    state.currentId = null;
    drawSidebar();
    return showWelcome();
  }
  performance.mark('rustchat:channel-switch');
  const c = state.channels.get(id);
  if (c.team_id && c.team_id !== state.teamId) state.teamId = c.team_id;
  state.currentId = id;
  const unread = c.unread_count;
  c.unread_count = 0;
  c.mention_count = 0;
  const leave = channelShell();
  leave.hidden = c.kind === 'direct';
  document.getElementById('edit-channel').hidden = c.kind === 'direct' || c.kind === 'group';
  drawHeader();
  drawSidebar();
  showTyping();
  try {
    await openChannel(id, unread);
  } catch (e) {
    if (state.currentId !== id) return;
    messageList().replaceChildren(h('p', { class: 'error', role: 'alert' }, `Cannot load messages: ${e.message} `),
      h('button', { type: 'button', onclick: () => route() }, 'Retry'));
    return;
  }
  if (state.currentId !== id) return;
  performance.measure('rustchat:channel-render', 'rustchat:posts-fetched', 'rustchat:channel-rendered');
  performance.measure('rustchat:channel-switch', 'rustchat:channel-switch', 'rustchat:channel-rendered');
  markViewedSoon();
}

async function showWelcome() {
  const joinable = await api.get('/teams/joinable').catch(() => []);
  main.replaceChildren(h('div', { class: 'welcome stack' },
    h('h1', { id: 'channel-title', tabindex: '-1' }, state.teams.length ? 'No channels yet' : 'Welcome to RustChat'),
    h('p', {}, state.teams.length ? 'Create a channel or browse the team\'s channels from the sidebar.' : 'Create your first team to start talking, or join an open one.'),
    state.teams.length ? null : h('button', { type: 'button', class: 'primary', onclick: createTeam }, 'Create a team'),
    joinable.length ? h('ul', {}, joinable.map((t) => h('li', {}, h('button', { type: 'button', onclick: async () => {
      await api.post(`/teams/${t.id}/join`);
      state.teams = await api.get('/teams');
      state.teamId = t.id;
      await loadChannels();
      navigate('/', true);
    } }, `Join ${t.display_name || t.name}`)))) : null));
}

function editChannel() {
  const c = currentChannel();
  if (!c) return;
  const dialog = formDialog('Edit channel', [
    ['display_name', 'Name', { required: true, maxlength: 64, value: c.display_name }],
    ['purpose', 'Purpose', { maxlength: 250, value: c.purpose }],
    ['header', 'Header', { maxlength: 1024, value: c.header }],
  ], 'Save', async (v) => {
    Object.assign(c, await api.patch(`/channels/${c.id}`, v));
    drawHeader();
    drawSidebar();
  });
  return dialog;
}

async function showMembers() {
  const c = currentChannel();
  const members = await api.get(`/channels/${c.id}/members`).catch(() => []);
  const list = h('ul', { class: 'people' }, members.map((m) => h('li', {},
    h('span', { class: `dot ${state.presence.get(m.user_id) ?? 'offline'}`, role: 'img', 'aria-label': state.presence.get(m.user_id) ?? 'offline' }),
    ` ${m.display_name || m.username} (@${m.username})`)));
  const q = h('input', { id: 'add-member', type: 'search', autocomplete: 'off' });
  const found = h('ul', { class: 'picker' });
  q.addEventListener('input', async () => {
    const users = await api.get(`/users?q=${encodeURIComponent(q.value.trim())}&limit=10`).catch(() => []);
    found.replaceChildren(...users.filter((u) => !members.some((m) => m.user_id === u.id)).map((u) => h('li', {}, h('button', { type: 'button', onclick: async () => {
      try { await api.post(`/channels/${c.id}/members`, { user_id: u.id }); announce(`Added @${u.username}`); dialog.close(); } catch (e) { announce(e.message, 'error'); }
    } }, `Add @${u.username}`))));
  });
  const canAdd = c.kind === 'public' || c.kind === 'private';
  const dialog = modal(`Members (${members.length})`, h('div', { class: 'stack' }, list,
    canAdd ? [h('label', { for: 'add-member' }, 'Add people'), q, found] : null));
}

async function leaveChannel() {
  const c = currentChannel();
  if (!c || !window.confirm(`Leave ${c.display_name || c.name}?`)) return;
  try {
    await api.del(`/channels/${c.id}/members/${state.me.id}`);
    await loadChannels();
    navigate('/', true);
  } catch (e) { announce(e.message, 'error'); }
}

function search(ev) {
  ev.preventDefault();
  const q = new FormData(ev.target).get('q')?.trim();
  if (!q) return;
  const results = h('ul', { class: 'picker' }, h('li', {}, 'Searching…'));
  const dialog = modal(`Results for “${q}”`, results);
  api.get(`/search/posts?q=${encodeURIComponent(q)}&limit=30`).then((hits) => {
    results.replaceChildren(...(hits.length ? hits.map((p) => h('li', {}, h('button', { type: 'button', class: 'result', onclick: async () => {
      dialog.close();
      if (state.currentId !== p.channel_id) { history.pushState(null, '', `/channels/${p.channel_id}`); await route(); }
      if (!(await jumpTo(p.id))) announce('That message is no longer in the channel.');
    } }, h('span', { class: 'muted' }, `${state.channels.get(p.channel_id)?.display_name || 'message'}: `), p.message.slice(0, 200)))) : [h('li', {}, 'Nothing found.')]));
    results.querySelector('button')?.focus();
  }).catch((e) => { results.replaceChildren(h('li', { class: 'error' }, e.message)); });
}

function changePassword() {
  formDialog('Change password', [
    ['current_password', 'Current password', { type: 'password', autocomplete: 'current-password', required: true }],
    ['new_password', 'New password (at least 8 characters)', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }],
  ], 'Change password', async (v) => { await api.post('/auth/password', v); announce('Password changed: your other sessions were signed out.'); });
}

async function signOut(reason) {
  socket?.stop();
  if (!reason) await api.post('/auth/logout').catch(() => {});
  api.clearTokens();
  location.assign(reason ? `/?signed_out=${encodeURIComponent(reason)}` : '/');
}

function onKey(e) {
  if (e.altKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
    const links = [...document.querySelectorAll('#sidebar a.channel')];
    if (!links.length) return;
    e.preventDefault();
    const at = links.findIndex((a) => a.dataset.channelId === state.currentId);
    const next = links[(at + (e.key === 'ArrowDown' ? 1 : links.length - 1)) % links.length];
    navigate(next.getAttribute('href'));
    next.focus();
  }
}

async function startApp(me) {
  state.me = me;
  state.teams = await api.get('/teams');
  const saved = localStorage.getItem('rustchat.team');
  state.teamId = state.teams.find((t) => t.id === saved)?.id ?? state.teams[0]?.id ?? null;
  await loadChannels();
  socket = new Socket({
    since: () => Object.fromEntries([...state.lastSeq.entries()].filter(([id]) => state.channels.has(id))),
    onEvent, onState: setConnection, onHello, onEnded: (reason) => signOut(reason || 'login ended'),
  });
  api.onToken((token) => socket.authenticate(token));
  const nav = sidebar();
  nav.addEventListener('click', (e) => {
    const a = e.target.closest('a.channel');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  const topbar = h('header', { class: 'topbar' },
    h('a', { href: '#main', class: 'skip' }, 'Skip to messages'),
    h('span', { class: 'brand' }, 'RustChat'),
    h('form', { class: 'search', role: 'search', onsubmit: search }, h('input', { type: 'search', name: 'q', 'aria-label': 'Search messages', placeholder: 'Search messages' })),
    connection,
    h('span', { class: 'me' }, `@${me.username}`),
    me.is_system_admin ? h('a', { href: '/admin', class: 'button small', onclick: (e) => { e.preventDefault(); navigate('/admin'); } }, 'System settings') : null,
    h('button', { type: 'button', class: 'small', onclick: changePassword }, 'Change password'),
    h('button', { type: 'button', class: 'small', onclick: () => signOut() }, 'Sign out'));
  root.replaceChildren(topbar, h('div', { class: 'shell' }, nav, main, threadPanel(socket)));
  document.addEventListener('keydown', onKey);
  on('navigate', (path) => navigate(path));
  on('channels', () => { drawSidebar(); if (state.currentId && !state.channels.has(state.currentId)) navigate('/', true); });
  on('thread', (id) => openThread(id));
  window.addEventListener('popstate', route);
  document.addEventListener('visibilitychange', () => {
    const visible = document.visibilityState === 'visible';
    socket.notify({ action: 'presence', status: visible ? 'online' : 'away' });
    if (visible && state.currentId) markViewedSoon();
  });
  socket.start();
  await route();
}

async function boot() {
  try {
    await exchangeSsoCode();
  } catch (e) {
    return showSignIn(root, startApp, `Single sign-on failed: ${e.message}`);
  }
  if (!api.accessToken() && api.hasRefresh()) await api.refresh().catch(() => {});
  try {
    // With a token, or in SSO cookie mode with the HttpOnly cookie the browser sends by itself.
    const me = await api.get('/users/me');
    await startApp(me);
  } catch (e) {
    const notice = new URLSearchParams(location.search).get('signed_out');
    if (notice) history.replaceState(null, '', '/');
    showSignIn(root, startApp, notice ? `Signed out: ${notice}` : '');
  }
}

boot();
