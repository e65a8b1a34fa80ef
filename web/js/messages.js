// The message list of the open channel: the newest page first, older pages as the reader scrolls up
// (keyset paging with `before`, never the whole channel), day separators, a "new messages" marker,
// live changes, and each post's actions (reply in thread, react, pin, edit and delete one's own).

import { del, get, patch, post } from './api.js';
import { attachmentList } from './attachments.js';
import { modal } from './dialogs.js';
import { dayLabel, h, timeLabel } from './dom.js';
import { render } from './markdown.js';
import { displayName, emit, state, user } from './state.js';

const PAGE = 50;
/** Posts kept in the list: scrolling further drops the far end and pages it back in on return. */
const WINDOW = 600;
export const EMOJI = [['thumbsup', '👍'], ['heart', '❤️'], ['smile', '😄'], ['tada', '🎉'], ['eyes', '👀'], ['rocket', '🚀'], ['white_check_mark', '✅'], ['laughing', '😆']];
const EMOJI_CHAR = new Map([...EMOJI, ['+1', '👍']]);

const list = h('div', { id: 'messages', class: 'messages', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
/** post id → post, for the open channel and the open thread */
export const posts = new Map();
let channelId = null;
let hasMore = false;
let loadingOlder = false;
/** Newer posts exist below the window (dropped while scrolling back). */
let hasNewer = false;
let loadingNewer = false;

export function messageList() { return list; }

const dayOf = (p) => new Date(p.created_at).toDateString();
const order = (a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function separator(p) {
  return h('div', { class: 'day', role: 'separator', dataset: { day: dayOf(p) } }, h('span', {}, dayLabel(new Date(p.created_at))));
}

/** Opens a channel: its newest page, scrolled to the bottom, marked read. */
export async function openChannel(id, unread) {
  channelId = id;
  hasNewer = false;
  posts.clear();
  list.replaceChildren(h('p', { class: 'muted', role: 'status' }, 'Loading messages…'));
  list.dataset.loaded = 'false';
  const page = await get(`/channels/${id}/posts?limit=${PAGE}`);
  if (channelId !== id) return;
  performance.mark('rustchat:posts-fetched');
  hasMore = page.has_more;
  const ordered = page.posts.slice().reverse();
  const frag = document.createDocumentFragment();
  let day = null;
  ordered.forEach((p, i) => {
    if (dayOf(p) !== day) { day = dayOf(p); frag.append(separator(p)); }
    if (unread > 0 && i === ordered.length - unread) frag.append(h('div', { class: 'new-marker', role: 'separator', id: 'new-marker' }, h('span', {}, 'New messages')));
    posts.set(p.id, p);
    frag.append(postElement(p));
  });
  list.replaceChildren(frag);
  if (!ordered.length) list.append(h('p', { class: 'muted empty' }, 'No messages yet. Say hello!'));
  list.setAttribute('aria-label', `Messages in ${document.getElementById('channel-title')?.textContent ?? 'channel'}`);
  list.scrollTop = list.scrollHeight;
  list.dataset.loaded = 'true';
  performance.mark('rustchat:channel-rendered');
}

/** The page before the oldest post shown, keeping the reader's place. */
export async function loadOlder() {
  if (!hasMore || loadingOlder || !channelId) return;
  const first = list.querySelector('article.post');
  if (!first) return;
  loadingOlder = true;
  const id = channelId;
  try {
    const page = await get(`/channels/${id}/posts?limit=${PAGE}&before=${first.dataset.id}`);
    if (channelId !== id) return;
    hasMore = page.has_more;
    const ordered = page.posts.slice().reverse().filter((p) => !posts.has(p.id));
    if (!ordered.length) return;
    const frag = document.createDocumentFragment();
    let day = null;
    for (const p of ordered) {
      if (dayOf(p) !== day) { day = dayOf(p); frag.append(separator(p)); }
      posts.set(p.id, p);
      frag.append(postElement(p));
    }
    const firstChild = list.firstElementChild;
    if (firstChild?.classList.contains('day') && firstChild.dataset.day === day) firstChild.remove();
    const before = list.scrollHeight;
    list.prepend(frag);
    list.scrollTop += list.scrollHeight - before;
    trim(false);
  } finally {
    loadingOlder = false;
    list.dataset.older = hasMore ? 'more' : 'done';
  }
}

/** Drops posts beyond the window: at the bottom after paging back (`fromTop` false), else at the top. */
function trim(fromTop) {
  const all = list.querySelectorAll('article.post');
  let extra = all.length - WINDOW;
  if (extra <= 0) return;
  const height = list.scrollHeight;
  for (let i = 0; extra > 0; i += 1, extra -= 1) {
    const el = all[fromTop ? i : all.length - 1 - i];
    posts.delete(el.dataset.id);
    el.remove();
  }
  // Separators left without a post after them, or a marker at an end, go too.
  for (const sep of list.querySelectorAll('.day, .new-marker')) {
    const next = sep.nextElementSibling;
    if (!next || next.classList.contains('day')) sep.remove();
  }
  if (fromTop) { list.scrollTop -= height - list.scrollHeight; hasMore = true; } else hasNewer = true;
}

/** The page after the newest post shown, when the window dropped it. */
async function loadNewer() {
  if (!hasNewer || loadingNewer || !channelId) return;
  const shown = list.querySelectorAll('article.post');
  const last = shown[shown.length - 1];
  if (!last) return;
  loadingNewer = true;
  const id = channelId;
  try {
    const page = await get(`/channels/${id}/posts?limit=${PAGE}&after=${last.dataset.id}`);
    if (channelId !== id) return;
    hasNewer = page.has_more;
    let day = dayOf(posts.get(last.dataset.id));
    const frag = document.createDocumentFragment();
    for (const p of page.posts.slice().sort(order).filter((q) => !posts.has(q.id))) {
      if (dayOf(p) !== day) { day = dayOf(p); frag.append(separator(p)); }
      posts.set(p.id, p);
      frag.append(postElement(p));
    }
    list.append(frag);
    trim(true);
  } finally {
    loadingNewer = false;
  }
}

list.addEventListener('scroll', () => {
  if (list.scrollTop < 400) loadOlder();
  else if (list.scrollHeight - list.scrollTop - list.clientHeight < 400) loadNewer();
});

/** Adds or replaces a post of the open channel, in (created_at, id) order. */
export function upsert(p) {
  if (p.channel_id !== channelId) return;
  if (p.deleted_at) { remove(p.id); return; }
  const existing = document.getElementById(`post-${p.id}`);
  posts.set(p.id, p);
  if (existing) { existing.replaceWith(postElement(p)); return; }
  list.querySelector('.empty')?.remove();
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const all = list.querySelectorAll('article.post');
  let after = null;
  for (let i = all.length - 1; i >= 0; i -= 1) {
    if (order(posts.get(all[i].dataset.id), p) < 0) { after = all[i]; break; }
  }
  // Newer than everything shown while the newest posts are out of the window: it comes with its page.
  if (hasNewer && after === all[all.length - 1]) { posts.delete(p.id); return 'hidden'; }
  const el = postElement(p);
  if (!after) {
    if (hasMore) { posts.delete(p.id); return 'hidden'; } // older than everything shown: it comes with its page
    list.prepend(separator(p), el);
  } else {
    const prevDay = dayOf(posts.get(after.dataset.id));
    after.after(el);
    if (prevDay !== dayOf(p)) el.before(separator(p));
  }
  if (atBottom) list.scrollTop = list.scrollHeight;
}

export function remove(id) {
  posts.delete(id);
  document.getElementById(`post-${id}`)?.remove();
}

/** A reaction event: the post's summary changes. */
export function react(reaction, added) {
  const p = posts.get(reaction.post_id);
  if (!p) return;
  let r = p.reactions.find((x) => x.emoji_name === reaction.emoji_name);
  if (added) {
    if (!r) { r = { emoji_name: reaction.emoji_name, count: 0, user_ids: [] }; p.reactions.push(r); }
    if (!r.user_ids.includes(reaction.user_id)) { r.user_ids.push(reaction.user_id); r.count += 1; }
  } else if (r && r.user_ids.includes(reaction.user_id)) {
    r.user_ids = r.user_ids.filter((u) => u !== reaction.user_id);
    r.count -= 1;
    if (r.count <= 0) p.reactions = p.reactions.filter((x) => x !== r);
  }
  for (const el of document.querySelectorAll(`[data-id="${p.id}"] > .reactions`)) el.replaceWith(reactions(p));
}

/** A reply arrived: its root shows one more reply. */
export function replied(rootId) {
  const root = posts.get(rootId);
  if (!root) return;
  root.reply_count += 1;
  document.getElementById(`post-${rootId}`)?.replaceWith(postElement(root));
}

function reactions(p) {
  return h('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' }, p.reactions.map((r) => {
    const mine = r.user_ids.includes(state.me.id);
    return h('button', {
      type: 'button', class: 'reaction', 'aria-pressed': mine ? 'true' : 'false', dataset: { emoji: r.emoji_name },
      'aria-label': `${r.emoji_name}: ${r.count}${mine ? ', including you' : ''}`,
      onclick: () => (mine ? del(`/posts/${p.id}/reactions/${encodeURIComponent(r.emoji_name)}`) : post(`/posts/${p.id}/reactions`, { emoji_name: r.emoji_name })).catch(() => {}),
    }, `${EMOJI_CHAR.get(r.emoji_name) ?? `:${r.emoji_name}:`} ${r.count}`);
  }));
}

export function pickEmoji(p) {
  const dialog = modal('Add a reaction', h('div', { class: 'emoji-grid', role: 'group', 'aria-label': 'Emoji' }, EMOJI.map(([name, char]) => h('button', {
    type: 'button', 'aria-label': name, dataset: { emoji: name }, onclick: () => { dialog.close(); post(`/posts/${p.id}/reactions`, { emoji_name: name }).catch(() => {}); },
  }, char))));
  dialog.querySelector('.emoji-grid button').focus();
}

function edit(p, el) {
  const area = h('textarea', { 'aria-label': 'Edit message', rows: 3 }, p.message);
  const error = h('p', { class: 'error', role: 'alert' });
  const done = () => { el.replaceWith(postElement(posts.get(p.id) ?? p)); document.getElementById(`post-${p.id}`)?.focus(); };
  const save = async () => {
    try { upsert(await patch(`/posts/${p.id}`, { message: area.value })); done(); } catch (e) { error.textContent = e.message; }
  };
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); save(); }
    if (e.key === 'Escape') done();
  });
  el.querySelector('.body').replaceWith(h('div', { class: 'body stack' }, area, error,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary small', onclick: save }, 'Save'), h('button', { type: 'button', class: 'small', onclick: done }, 'Cancel'))));
  area.focus();
}

/** One post as an article. `inThread` drops the thread affordances. */
export function postElement(p, inThread = false) {
  const author = h('span', { class: 'author' }, '…');
  user(p.user_id).then((u) => { author.textContent = displayName(u); });
  const mine = p.user_id === state.me.id;
  const when = new Date(p.created_at);
  const el = h('article', { class: mine ? 'post mine' : 'post', id: inThread ? null : `post-${p.id}`, tabindex: '-1', dataset: { id: p.id, user: p.user_id } },
    h('div', { class: 'meta' }, author, ' ', h('time', { datetime: p.created_at, title: when.toLocaleString() }, timeLabel(when)),
      p.edited_at ? h('span', { class: 'muted' }, ' (edited)') : null,
      p.is_pinned ? h('span', { class: 'pinned' }, ' 📌 pinned') : null,
      p.root_id && !inThread ? h('button', { type: 'button', class: 'link small', onclick: () => emit('thread', p.root_id) }, ' reply in a thread') : null),
    h('div', { class: 'body' }, render(p.message, state.me.username)),
    p.files?.length ? attachmentList(p.files) : null,
    reactions(p));
  if (!inThread && !p.root_id && p.reply_count > 0) {
    el.append(h('button', { type: 'button', class: 'link replies', onclick: () => emit('thread', p.id) }, `${p.reply_count} ${p.reply_count === 1 ? 'reply' : 'replies'}`));
  }
  const actions = h('div', { class: 'post-actions', role: 'group', 'aria-label': 'Message actions' });
  if (!inThread) actions.append(h('button', { type: 'button', class: 'small', onclick: () => emit('thread', p.root_id ?? p.id) }, 'Reply'));
  actions.append(h('button', { type: 'button', class: 'small', onclick: () => pickEmoji(p) }, 'React'));
  if (!inThread) actions.append(h('button', { type: 'button', class: 'small', onclick: () => (p.is_pinned ? del(`/posts/${p.id}/pin`) : post(`/posts/${p.id}/pin`)).catch(() => {}) }, p.is_pinned ? 'Unpin' : 'Pin'));
  if (mine) {
    actions.append(h('button', { type: 'button', class: 'small', onclick: () => edit(p, el) }, 'Edit'));
    actions.append(h('button', { type: 'button', class: 'small danger', onclick: async () => {
      if (window.confirm('Delete this message?')) await del(`/posts/${p.id}`).then(() => remove(p.id)).catch(() => {});
    } }, 'Delete'));
  }
  el.append(actions);
  return el;
}

/** Finds a post by paging back (search's jump-to-message); false when it is not in this channel. */
export async function jumpTo(postId) {
  for (let i = 0; i < 40 && !document.getElementById(`post-${postId}`) && hasMore; i += 1) await loadOlder();
  const el = document.getElementById(`post-${postId}`);
  if (!el) return false;
  el.scrollIntoView({ block: 'center' });
  el.classList.add('highlight');
  el.focus();
  return true;
}
