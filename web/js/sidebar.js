// The sidebar: team switcher, the team's public and private channels, direct and group messages,
// each with live unread and mention badges; creating and browsing channels; starting a DM or group.

import { get, post } from './api.js';
import { formDialog, modal } from './dialogs.js';
import { h } from './dom.js';
import { channelLabel, emit, loadChannels, state } from './state.js';

const nav = h('nav', { class: 'sidebar', 'aria-label': 'Channels', id: 'sidebar' });

export function sidebar() {
  return nav;
}

function badge(c) {
  const out = [];
  if (c.mention_count > 0) out.push(h('span', { class: 'badge mention-badge' }, `@${c.mention_count}`, h('span', { class: 'sr-only' }, ' mentions')));
  if (c.unread_count > 0) out.push(h('span', { class: 'badge' }, String(c.unread_count), h('span', { class: 'sr-only' }, ' unread')));
  return out;
}

function item(c, label) {
  const current = c.id === state.currentId;
  const unread = c.unread_count > 0 && !current;
  const dm = c.kind === 'direct' ? presenceDot(c) : null;
  const prefix = c.kind === 'private' ? '🔒 ' : c.kind === 'public' ? '# ' : '';
  return h('li', {}, h('a', {
    href: `/channels/${c.id}`, class: unread ? 'channel unread' : 'channel', 'aria-current': current ? 'page' : null,
    dataset: { channelId: c.id, name: c.name },
  }, dm, h('span', { class: 'name' }, prefix, label), current ? [] : badge(c)));
}

function presenceDot(c) {
  const other = (state.members.get(c.id) ?? []).find((m) => m.user_id !== state.me.id);
  const status = other ? state.presence.get(other.user_id) ?? 'offline' : 'offline';
  return h('span', { class: `dot ${status}`, role: 'img', 'aria-label': status });
}

/** Asks who of the people in my direct messages is online (presence events only tell changes). */
export async function refreshPresence() {
  const dms = [...state.channels.values()].filter((c) => c.kind === 'direct');
  await Promise.all(dms.map((c) => channelLabel(c)));
  const ids = [...new Set(dms.flatMap((c) => (state.members.get(c.id) ?? []).map((m) => m.user_id)))].slice(0, 500);
  if (!ids.length) return;
  const statuses = await post('/users/status/ids', ids).catch(() => []);
  for (const s of statuses) state.presence.set(s.user_id, s.status);
  drawSidebar();
}

let drawing = 0;
export async function drawSidebar() {
  const turn = ++drawing;
  const all = [...state.channels.values()].filter((c) => !c.archived_at);
  const team = all.filter((c) => c.team_id === state.teamId && (c.kind === 'public' || c.kind === 'private'));
  const dms = all.filter((c) => c.kind === 'direct' || c.kind === 'group');
  const labels = new Map(await Promise.all(all.map(async (c) => [c.id, await channelLabel(c)])));
  if (turn !== drawing) return;
  const byName = (a, b) => labels.get(a.id).localeCompare(labels.get(b.id));
  // Redrawing must not lose the keyboard's place: note what had focus, give it back after.
  const active = nav.contains(document.activeElement) ? document.activeElement : null;
  const refocus = active?.dataset.channelId ? `a[data-channel-id="${active.dataset.channelId}"]` : active?.id ? `#${active.id}` : null;
  const switcher = h('select', { id: 'team-switcher', 'aria-label': 'Team', onchange: (e) => switchTeam(e.target.value) },
    state.teams.map((t) => h('option', { value: t.id, selected: t.id === state.teamId }, t.display_name || t.name)));
  nav.replaceChildren(
    h('div', { class: 'team' }, switcher, h('button', { type: 'button', class: 'icon', 'aria-label': 'Create a team', onclick: createTeam }, '+')),
    h('h2', { id: 'channels-heading' }, 'Channels'),
    h('ul', { 'aria-labelledby': 'channels-heading', id: 'channel-list' }, team.sort(byName).map((c) => item(c, labels.get(c.id)))),
    state.teamId ? h('div', { class: 'row' },
      h('button', { type: 'button', class: 'small', onclick: createChannel }, '+ New channel'),
      h('button', { type: 'button', class: 'small', onclick: browseChannels }, 'Browse')) : null,
    h('h2', { id: 'dm-heading' }, 'Direct messages'),
    h('ul', { 'aria-labelledby': 'dm-heading', id: 'dm-list' }, dms.sort(byName).map((c) => item(c, labels.get(c.id)))),
    h('button', { type: 'button', class: 'small', onclick: startDirect }, '+ Message people'),
  );
  if (refocus) nav.querySelector(refocus)?.focus();
}

function switchTeam(id) {
  state.teamId = id;
  localStorage.setItem('rustchat.team', id);
  drawSidebar();
  const first = [...state.channels.values()].find((c) => c.team_id === id && !c.archived_at);
  emit('navigate', first ? `/channels/${first.id}` : '/');
}

export function createTeam() {
  formDialog('Create a team', [
    ['display_name', 'Team name', { required: true, maxlength: 64 }],
    ['name', 'URL name (a-z, 0-9, - and _)', { required: true, pattern: '[A-Za-z0-9_\\-]{2,64}' }],
    ['open', 'Who may join', { options: [['false', 'Invited people only'], ['true', 'Anyone on this site']] }],
  ], 'Create team', async (v) => {
    const team = await post('/teams', { name: v.name, display_name: v.display_name, open: v.open === 'true' });
    state.teams = await get('/teams');
    await loadChannels();
    switchTeam(team.id);
  });
}

function createChannel() {
  formDialog('Create a channel', [
    ['display_name', 'Name', { required: true, maxlength: 64 }],
    ['name', 'URL name (a-z, 0-9, - and _)', { required: true, pattern: '[A-Za-z0-9_\\-]{2,64}' }],
    ['kind', 'Visibility', { options: [['public', 'Public: anyone in the team'], ['private', 'Private: invited members']] }],
    ['purpose', 'Purpose (optional)', { maxlength: 250 }],
  ], 'Create channel', async (v) => {
    const c = await post(`/teams/${state.teamId}/channels`, { name: v.name, display_name: v.display_name, kind: v.kind, purpose: v.purpose || undefined });
    await loadChannels();
    emit('navigate', `/channels/${c.id}`);
  });
}

async function browseChannels() {
  const list = h('ul', { class: 'picker' }, h('li', {}, 'Loading…'));
  const dialog = modal('Browse channels', list);
  const all = await get(`/teams/${state.teamId}/channels`).catch(() => []);
  const open = all.filter((c) => c.kind === 'public' && !state.channels.has(c.id));
  list.replaceChildren(...(open.length ? open.map((c) => h('li', {},
    h('button', { type: 'button', onclick: async () => {
      await post(`/channels/${c.id}/members`, { user_id: state.me.id });
      await loadChannels();
      dialog.close();
      emit('navigate', `/channels/${c.id}`);
    } }, `Join # ${c.display_name || c.name}`), c.purpose ? h('span', { class: 'muted' }, ` — ${c.purpose}`) : null)) : [h('li', {}, 'No other public channels.')]));
  list.querySelector('button')?.focus();
}

async function startDirect() {
  const chosen = new Map();
  const input = h('input', { id: 'dm-search', type: 'search', autocomplete: 'off' });
  const results = h('ul', { class: 'picker', id: 'dm-results' });
  const picked = h('p', { 'aria-live': 'polite' });
  const error = h('p', { class: 'error', role: 'alert' });
  const go = h('button', { type: 'button', class: 'primary', disabled: true }, 'Start conversation');
  const redraw = () => {
    picked.textContent = chosen.size ? `With: ${[...chosen.values()].map((u) => u.username).join(', ')}` : '';
    go.disabled = chosen.size === 0;
  };
  const search = async () => {
    const users = await get(`/users?q=${encodeURIComponent(input.value.trim())}&limit=20`).catch(() => []);
    results.replaceChildren(...users.filter((u) => u.id !== state.me.id && u.is_active !== false).map((u) => h('li', {},
      h('label', {}, h('input', { type: 'checkbox', checked: chosen.has(u.id), onchange: (e) => {
        if (e.target.checked) chosen.set(u.id, u); else chosen.delete(u.id);
        redraw();
      } }), ` ${u.display_name || u.username} (@${u.username})`))));
  };
  input.addEventListener('input', search);
  const dialog = modal('Message people', h('div', { class: 'stack' }, h('label', { for: 'dm-search' }, 'Find people'), input, results, picked, error, go));
  go.addEventListener('click', async () => {
    try {
      const ids = [...chosen.keys()];
      const c = ids.length === 1 ? await post('/channels/direct', { user_id: ids[0] }) : await post('/channels/group', { user_ids: ids });
      await loadChannels();
      dialog.close();
      emit('navigate', `/channels/${c.id}`);
    } catch (e) { error.textContent = e.message; }
  });
  search();
}
