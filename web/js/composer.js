// The message box: Enter sends, Shift+Enter is a new line, typing is announced to the channel (at
// most every 2.5 s), and `@` opens an autocomplete of people (arrow keys, Enter or Tab, Escape).
// Files come by the attach button, by dropping them on the box or by pasting an image; each uploads
// at once with its progress shown, and the post takes the ones that arrived.

import { get, post } from './api.js';
import { sizeLabel, upload, uploadLimits } from './attachments.js';
import { announce, h, icon } from './dom.js';

const TYPING_EVERY_MS = 2500;
/** A paperclip. */
const PAPERCLIP = 'M21 11.5l-8.5 8.5a5.5 5.5 0 0 1-7.8-7.8l9.2-9.2a3.7 3.7 0 0 1 5.2 5.2l-9.2 9.2a1.8 1.8 0 0 1-2.6-2.6l8.5-8.5';
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
  const picker = h('input', { type: 'file', multiple: true, hidden: true, tabindex: '-1', 'aria-hidden': 'true' });
  const attach = h('button', { type: 'button', class: 'icon attach', 'aria-label': 'Attach files', title: 'Attach files (or drop them here, or paste an image)', onclick: () => picker.click() }, icon(PAPERCLIP));
  const pending = h('ul', { class: 'pending-files', 'aria-label': 'Files to send', hidden: true });
  const form = h('form', { class: 'composer' }, pending, attach, picker, h('div', { class: 'compose-wrap' }, options, area), send, error);
  /** Files of the next post: `{ file, info?, done, abort, el }` in the order they were added. */
  let files = [];
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
  const drawPending = () => { pending.hidden = files.length === 0; };
  const removeFile = (item) => {
    item.abort();
    item.el.remove();
    files = files.filter((f) => f !== item);
    drawPending();
  };
  /** Starts uploading `chosen` (a FileList or File[]) into the channel, within the node's limits. */
  const addFiles = async (chosen) => {
    const list = [...chosen]; // a picker's FileList empties when the picker is reset
    const { max_size_bytes: maxSize, per_post: perPost } = await uploadLimits();
    for (const file of list) {
      if (files.length >= perPost) { announce(`At most ${perPost} files per message`, 'warn'); break; }
      const named = file.name && file.name !== 'image.png' ? file
        : new File([file], `Pasted image ${new Date().toISOString().slice(0, 19).replace('T', ' ')}.png`, { type: file.type });
      const bar = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${named.name}` });
      const status = h('span', { class: 'file-status muted' }, sizeLabel(named.size));
      const item = { file: named, info: null, abort: () => {}, channel: channelId() };
      item.el = h('li', { class: 'pending-file', dataset: { name: named.name, state: 'uploading' } },
        h('span', { class: 'file-name' }, named.name), status, bar,
        h('button', { type: 'button', class: 'icon small', 'aria-label': `Remove ${named.name}`, onclick: () => { removeFile(item); area.focus(); } }, '×'));
      files.push(item);
      pending.append(item.el);
      drawPending();
      if (named.size > maxSize) {
        item.done = Promise.resolve(null);
        fail(item, `too large: the limit is ${sizeLabel(maxSize)}`);
        continue;
      }
      const job = upload(channelId(), named, (fraction) => { bar.value = fraction; });
      item.abort = job.abort;
      item.done = job.done.then((info) => {
        item.info = info;
        item.el.dataset.state = 'done';
        bar.remove();
        return info;
      }, (e) => { if (e.code !== 'aborted') fail(item, e.message); return null; });
    }
  };
  const fail = (item, message) => {
    item.el.dataset.state = 'failed';
    item.el.querySelector('progress')?.remove();
    const status = item.el.querySelector('.file-status');
    status.textContent = message;
    status.className = 'file-status error';
  };
  picker.addEventListener('change', () => { addFiles(picker.files); picker.value = ''; });
  area.addEventListener('paste', (e) => {
    const pasted = [...(e.clipboardData?.files ?? [])];
    if (!pasted.length) return;
    e.preventDefault();
    addFiles(pasted);
  });
  form.addEventListener('dragover', (e) => {
    if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
    e.preventDefault();
    form.classList.add('dropping');
  });
  form.addEventListener('dragleave', (e) => { if (!form.contains(e.relatedTarget)) form.classList.remove('dropping'); });
  form.addEventListener('drop', (e) => {
    form.classList.remove('dropping');
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    e.stopPropagation();
    addFiles(e.dataTransfer.files);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const message = area.value;
    // Files uploaded into another channel (the box moved with a thread) cannot go on this post.
    for (const f of files.filter((x) => x.channel !== channelId())) removeFile(f);
    if (!message.trim() && !files.length) return;
    error.textContent = '';
    send.disabled = true;
    try {
      if (files.some((f) => !f.info)) send.textContent = 'Uploading…';
      await Promise.all(files.map((f) => f.done));
      if (files.some((f) => !f.info)) throw new Error('A file did not upload: remove it or try again.');
      const root = rootId();
      const body = { message };
      if (root) body.root_id = root;
      if (files.length) body.file_ids = files.map((f) => f.info.id);
      const created = await post(`/channels/${channelId()}/posts`, body);
      area.value = '';
      files = [];
      pending.replaceChildren();
      drawPending();
      onSent(created);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      send.disabled = false;
      send.textContent = 'Send';
      area.focus();
    }
  });
  return { form, area, addFiles };
}
