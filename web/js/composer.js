// The message box: Enter sends, Shift+Enter is a new line, typing is announced to the channel (at
// most every 2.5 s), and `@` opens an autocomplete of people (arrow keys, Enter or Tab, Escape).

import { get, post } from './api.js';
import { h } from './dom.js';

const TYPING_EVERY_MS = 2500;
let composers = 0;

/** A composer posting to `channelId()` (in the thread of `rootId()` when it gives one). */
export function composer({ label, channelId, rootId = () => null, socket, onSent = () => {} }) {
  const n = ++composers;
  const listId = `mention-list-${n}`;
  const area = h('textarea', {
    rows: 2, 'aria-label': label, placeholder: label, maxlength: 16000, class: 'compose',
    'aria-autocomplete': 'list', 'aria-controls': listId,
  });
  const options = h('ul', { id: listId, role: 'listbox', class: 'mentions', hidden: true, 'aria-label': 'People' });
  const error = h('p', { class: 'error', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const form = h('form', { class: 'composer' }, h('div', { class: 'compose-wrap' }, options, area), send, error);
  let lastTyping = 0;
  let matches = [];
  let active = 0;

  const closeList = () => { options.hidden = true; matches = []; area.removeAttribute('aria-activedescendant'); };
  const drawList = () => {
    options.replaceChildren(...matches.map((u, i) => h('li', {
      id: `${listId}-${i}`, role: 'option', 'aria-selected': i === active ? 'true' : 'false',
      onmousedown: (e) => { e.preventDefault(); choose(i); },
    }, `@${u.username}`, u.display_name ? h('span', { class: 'muted' }, ` ${u.display_name}`) : null)));
    options.hidden = matches.length === 0;
    if (matches.length) area.setAttribute('aria-activedescendant', `${listId}-${active}`);
  };
  const word = () => area.value.slice(0, area.selectionStart).match(/(?:^|\s)@([a-z0-9._-]*)$/i);
  const choose = (i) => {
    const w = word();
    if (!w || !matches[i]) return;
    const start = area.selectionStart - w[1].length;
    area.value = `${area.value.slice(0, start)}${matches[i].username} ${area.value.slice(area.selectionStart)}`;
    area.selectionStart = area.selectionEnd = start + matches[i].username.length + 1;
    closeList();
  };
  let query = 0;
  area.addEventListener('input', async () => {
    const now = Date.now();
    if (area.value && now - lastTyping > TYPING_EVERY_MS && socket) {
      lastTyping = now;
      const root = rootId();
      socket.notify(root ? { action: 'typing', channel_id: channelId(), root_id: root } : { action: 'typing', channel_id: channelId() });
    }
    const w = word();
    if (!w) { closeList(); return; }
    const turn = ++query;
    const users = await get(`/users?q=${encodeURIComponent(w[1])}&limit=8`).catch(() => []);
    if (turn !== query) return;
    matches = users;
    active = 0;
    drawList();
  });
  area.addEventListener('keydown', (e) => {
    if (matches.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        active = (active + (e.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length;
        drawList();
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); choose(active); return; }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); closeList(); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  area.addEventListener('blur', () => setTimeout(closeList, 150));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const message = area.value;
    if (!message.trim()) return;
    error.textContent = '';
    send.disabled = true;
    try {
      const root = rootId();
      const created = await post(`/channels/${channelId()}/posts`, root ? { message, root_id: root } : { message });
      area.value = '';
      onSent(created);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      send.disabled = false;
      area.focus();
    }
  });
  return { form, area };
}
