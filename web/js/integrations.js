// Integrations, for everyone signed in: personal access tokens, bot accounts and their tokens,
// incoming webhooks, and (per team) outgoing webhooks and slash commands. A secret is shown once, in
// the answer that created it, with a copy button; lists show names and last use, never secrets. The
// server decides who may do what (site settings, channel and team roles): a refusal is shown as it is.

import { del, get, patch, post } from './api.js';
import { modal } from './dialogs.js';
import { announce, h } from './dom.js';
import { state } from './state.js';

let fieldCount = 0;
function field(label, control) {
  if (!control.id) control.id = `integ-${++fieldCount}`;
  return h('div', { class: control.type === 'checkbox' ? 'field inline' : 'field' }, control.type === 'checkbox' ? [control, h('label', { for: control.id }, label)] : [h('label', { for: control.id }, label), control]);
}

const when = (t) => (t ? new Date(t).toLocaleString() : 'never');

/** Shows a secret once: its value, a copy button, and why it will not be shown again. */
function showSecret(title, what, value) {
  const out = h('input', { readonly: true, value, class: 'code secret', 'aria-label': what, 'data-autofocus': true });
  const copy = h('button', { type: 'button', class: 'small', onclick: async () => {
    try { await navigator.clipboard.writeText(value); announce('Copied'); } catch { out.select(); }
  } }, 'Copy');
  modal(title, h('div', { class: 'stack' }, h('p', {}, `Copy ${what} now: it is not shown again.`), h('div', { class: 'row' }, out, copy)));
  out.select();
}

/** A card: heading, an alert line for refusals, a form and a list that `load` fills. */
function card(id, title, intro) {
  const error = h('p', { class: 'error', role: 'alert' });
  const list = h('ul', { class: 'people', 'aria-label': title });
  const el = h('section', { class: 'stack card', 'aria-labelledby': `${id}-h`, id }, h('h2', { id: `${id}-h` }, title), h('p', { class: 'muted' }, intro), error);
  const fail = (e) => { error.textContent = e.message; };
  return { el, list, error, fail, clear: () => { error.textContent = ''; } };
}

function tokensCard() {
  const c = card('tokens', 'Personal access tokens', 'For scripts and tools: send as Authorization: Bearer <token> (REST, WebSocket and the Mattermost API).');
  const name = h('input', { maxlength: 64, required: true, placeholder: 'e.g. CI deploys' });
  const form = h('form', { class: 'stack' }, field('Token name', name), h('button', { type: 'submit', class: 'primary' }, 'Create token'));
  const load = async () => {
    try {
      const tokens = await get('/users/me/tokens');
      c.list.replaceChildren(...tokens.map((t) => h('li', { dataset: { name: t.name } }, h('span', {}, `${t.name} — created ${when(t.created_at)}, last used ${when(t.last_used_at)}`),
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke token ${t.name}`, onclick: () => del(`/users/me/tokens/${t.id}`).then(() => { announce(`Token ${t.name} revoked`); load(); }, c.fail) }, 'Revoke'))));
      if (!tokens.length) c.list.replaceChildren(h('li', { class: 'muted' }, 'No tokens yet.'));
    } catch (e) { c.fail(e); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    c.clear();
    try {
      const made = await post('/users/me/tokens', { name: name.value.trim() });
      name.value = '';
      showSecret('Token created', 'the token', made.token);
      load();
    } catch (err) { c.fail(err); }
  });
  c.el.append(form, c.list);
  load();
  return c.el;
}

function botsCard() {
  const c = card('bots', 'Bot accounts', 'Accounts without a password for integrations: they post only where they are members, and their posts are marked as a bot\'s.');
  const username = h('input', { required: true, maxlength: 22, pattern: '[A-Za-z][A-Za-z0-9._\\-]{2,21}', placeholder: 'deploybot' });
  const display = h('input', { maxlength: 64 });
  const description = h('input', { maxlength: 1024 });
  const form = h('form', { class: 'stack' }, field('Bot username', username), field('Bot display name (optional)', display), field('What it does (optional)', description),
    h('button', { type: 'submit', class: 'primary' }, 'Create bot'));
  const newToken = async (bot) => {
    try {
      const made = await post(`/bots/${bot.user_id}/tokens`, { name: `${bot.username} token` });
      showSecret(`Token for @${bot.username}`, 'the bot\'s token', made.token);
    } catch (e) { c.fail(e); }
  };
  const load = async () => {
    try {
      const bots = await get('/bots');
      c.list.replaceChildren(...bots.map((b) => h('li', { dataset: { name: b.username } },
        h('span', {}, `@${b.username}${b.display_name ? ` (${b.display_name})` : ''}${b.is_active ? '' : ' — disabled'}`),
        h('span', { class: 'row' },
          b.is_active ? h('button', { type: 'button', class: 'small', 'aria-label': `New token for @${b.username}`, onclick: () => newToken(b) }, 'New token') : null,
          h('button', { type: 'button', class: b.is_active ? 'small danger' : 'small', 'aria-label': `${b.is_active ? 'Disable' : 'Enable'} @${b.username}`,
            onclick: () => patch(`/bots/${b.user_id}`, { active: !b.is_active }).then(load, c.fail) }, b.is_active ? 'Disable' : 'Enable')))));
      if (!bots.length) c.list.replaceChildren(h('li', { class: 'muted' }, 'No bots yet.'));
    } catch (e) { c.fail(e); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    c.clear();
    const body = { username: username.value.trim() };
    if (display.value.trim()) body.display_name = display.value.trim();
    if (description.value.trim()) body.description = description.value.trim();
    try { await post('/bots', body); form.reset(); announce('Bot created'); load(); } catch (err) { c.fail(err); }
  });
  c.el.append(form, c.list);
  load();
  return c.el;
}

const channelOptions = () => [...state.channels.values()].filter((c) => !c.archived_at && (c.kind === 'public' || c.kind === 'private'))
  .map((c) => h('option', { value: c.id }, `${c.kind === 'private' ? '🔒' : '#'} ${c.display_name || c.name}`));
const channelName = (id) => { const c = state.channels.get(id); return c ? `#${c.name}` : 'a channel'; };

function incomingCard() {
  const c = card('incoming', 'Incoming webhooks', 'A secret URL that posts what other tools send (Slack-compatible payloads: text, attachments) into a channel, as you.');
  const channel = h('select', { required: true }, channelOptions());
  const name = h('input', { maxlength: 64, placeholder: 'e.g. CI' });
  const locked = h('input', { type: 'checkbox', checked: true });
  const form = h('form', { class: 'stack' }, field('Hook channel', channel), field('Hook name', name), field('Only this channel', locked),
    h('button', { type: 'submit', class: 'primary' }, 'Create incoming webhook'));
  const load = async () => {
    try {
      const hooks = await get('/hooks/incoming');
      c.list.replaceChildren(...hooks.map((k) => h('li', { dataset: { name: k.display_name } }, h('span', {}, `${k.display_name || 'Webhook'} → ${channelName(k.channel_id)}, last used ${when(k.last_used_at)}`),
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke webhook ${k.display_name}`, onclick: () => del(`/hooks/incoming/${k.id}`).then(() => { announce('Webhook revoked'); load(); }, c.fail) }, 'Revoke'))));
      if (!hooks.length) c.list.replaceChildren(h('li', { class: 'muted' }, 'No incoming webhooks yet.'));
    } catch (e) { c.fail(e); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    c.clear();
    try {
      const made = await post(`/channels/${channel.value}/hooks`, { display_name: name.value.trim(), channel_locked: locked.checked });
      showSecret('Incoming webhook created', 'the webhook URL', new URL(made.url, location.origin).href);
      name.value = '';
      load();
    } catch (err) { c.fail(err); }
  });
  c.el.append(form, c.list);
  load();
  return c.el;
}

function outgoingCard(team) {
  const c = card('outgoing', 'Outgoing webhooks', 'Sends a channel\'s messages (all, or those starting with a trigger word) to your URLs; a reply in the answer is posted.');
  const channel = h('select', { required: true }, channelOptions());
  const triggers = h('input', { placeholder: 'deploy, status (empty: every message)' });
  const url = h('input', { type: 'url', required: true, placeholder: 'https://ci.example.com/hook' });
  const form = h('form', { class: 'stack' }, field('Outgoing channel', channel), field('Trigger words', triggers), field('Callback URL', url),
    h('button', { type: 'submit', class: 'primary' }, 'Create outgoing webhook'));
  const load = async () => {
    try {
      const hooks = await get(`/teams/${team}/outgoing_webhooks`);
      c.list.replaceChildren(...hooks.map((k) => h('li', {}, h('span', {}, `${channelName(k.channel_id)}: ${(k.trigger_words ?? []).join(', ') || 'every message'} → ${(k.callback_urls ?? []).join(', ')}`),
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke outgoing webhook to ${(k.callback_urls ?? [])[0]}`, onclick: () => del(`/outgoing_webhooks/${k.id}`).then(load, c.fail) }, 'Revoke'))));
      if (!hooks.length) c.list.replaceChildren(h('li', { class: 'muted' }, 'No outgoing webhooks yet.'));
    } catch (e) { c.fail(e); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    c.clear();
    const words = triggers.value.split(/[\s,]+/).filter(Boolean);
    try {
      const made = await post(`/teams/${team}/outgoing_webhooks`, { channel_id: channel.value, trigger_words: words, callback_urls: [url.value.trim()] });
      if (made.token) showSecret('Outgoing webhook created', 'the token (it signs each call)', made.token);
      form.reset();
      load();
    } catch (err) { c.fail(err); }
  });
  c.el.append(form, c.list);
  load();
  return c.el;
}

function commandsCard(team) {
  const c = card('commands', 'Slash commands', 'Typing /trigger in a message box calls your URL; its answer is posted or shown only to whoever typed it.');
  const trigger = h('input', { required: true, maxlength: 128, placeholder: 'deploy' });
  const url = h('input', { type: 'url', required: true, placeholder: 'https://ci.example.com/command' });
  const form = h('form', { class: 'stack' }, field('Command trigger', trigger), field('Command URL', url), h('button', { type: 'submit', class: 'primary' }, 'Create slash command'));
  const load = async () => {
    try {
      const commands = await get(`/teams/${team}/commands`);
      c.list.replaceChildren(...commands.map((k) => h('li', { dataset: { name: k.trigger } }, h('span', {}, `/${k.trigger} → ${k.url}`),
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete command /${k.trigger}`, onclick: () => del(`/commands/${k.id}`).then(load, c.fail) }, 'Delete'))));
      if (!commands.length) c.list.replaceChildren(h('li', { class: 'muted' }, 'No slash commands yet.'));
    } catch (e) { c.fail(e); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    c.clear();
    try {
      const made = await post(`/teams/${team}/commands`, { trigger: trigger.value.trim().replace(/^\//, ''), url: url.value.trim() });
      if (made.token) showSecret(`/${made.trigger} created`, 'the command\'s token (it comes with each call)', made.token);
      form.reset();
      load();
    } catch (err) { c.fail(err); }
  });
  c.el.append(form, c.list);
  load();
  return c.el;
}

export function showIntegrations(main) {
  const cards = [tokensCard(), botsCard(), incomingCard()];
  if (state.teamId) cards.push(outgoingCard(state.teamId), commandsCard(state.teamId));
  main.replaceChildren(h('h1', { id: 'channel-title', tabindex: '-1' }, 'Integrations'), h('div', { class: 'admin' }, cards));
  document.getElementById('channel-title').focus();
}
