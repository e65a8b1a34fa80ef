// The thread panel beside the channel: the root and its replies, live, with its own composer.
// Escape or the close button closes it and gives focus back to the channel.

import { get } from './api.js';
import { composer } from './composer.js';
import { h } from './dom.js';
import { posts, postElement } from './messages.js';
import { state } from './state.js';

const replies = h('div', { class: 'thread-posts', role: 'log', 'aria-label': 'Thread messages', tabindex: '0' });
const title = h('h2', { id: 'thread-title', tabindex: '-1' }, 'Thread');
const panel = h('aside', { id: 'thread', class: 'thread', 'aria-labelledby': 'thread-title', hidden: true });
let box = null;
let shown = new Set();

export function threadPanel(socket) {
  box ??= composer({ label: 'Reply in thread', channelId: () => state.currentId, rootId: () => state.threadRootId, socket, onSent: (p) => add(p) });
  panel.replaceChildren(h('header', {}, title, h('button', { type: 'button', class: 'icon', 'aria-label': 'Close thread', onclick: closeThread }, '×')), replies, box.form);
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeThread(); });
  return panel;
}

export async function openThread(rootId) {
  state.threadRootId = rootId;
  panel.hidden = false;
  replies.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  const thread = await get(`/posts/${rootId}/thread`).catch(() => []);
  if (state.threadRootId !== rootId) return;
  shown = new Set();
  replies.replaceChildren();
  for (const p of thread) add(p);
  box.area.focus();
}

/** A post of the open thread (new or changed). */
export function add(p) {
  if (!state.threadRootId || (p.id !== state.threadRootId && p.root_id !== state.threadRootId)) return;
  if (!posts.has(p.id)) posts.set(p.id, p);
  const el = postElement(p, true);
  el.dataset.thread = 'true';
  const existing = replies.querySelector(`[data-id="${p.id}"]`);
  if (existing) existing.replaceWith(el);
  else if (!shown.has(p.id)) replies.append(el);
  shown.add(p.id);
  replies.scrollTop = replies.scrollHeight;
}

export function removeFromThread(id) {
  replies.querySelector(`[data-id="${id}"]`)?.remove();
  if (id === state.threadRootId) closeThread();
}

export function closeThread() {
  if (panel.hidden) return;
  state.threadRootId = null;
  panel.hidden = true;
  document.querySelector('#composer textarea')?.focus();
}
