// Attachments: uploading with progress (XMLHttpRequest: fetch cannot report upload progress), the
// node's limits, and showing a post's files. Files are fetched with the session's token and shown
// from memory (`blob:`): an <img src> or a plain link could not carry the bearer token, and the
// download answer's own headers (attachment, nosniff, a sandboxing CSP) still apply to what is saved.

import { ApiError, accessToken, hasRefresh, refresh } from './api.js';
import { modal } from './dialogs.js';
import { announce, h, icon } from './dom.js';

/** A page with a folded corner. */
const DOCUMENT = 'M14 3H6a1 1 0 0 0-1 1v16a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1V8zM14 3v5h5';

let limits = null;
/** `{ max_size_bytes, per_post }` of this node, asked once. */
export function uploadLimits() {
  limits ??= fetchJson('/api/v1/files/limits').catch(() => { limits = null; return { max_size_bytes: Infinity, per_post: 10 }; });
  return limits;
}

async function fetchJson(url) {
  const r = await authorized(url);
  if (!r.ok) throw await failure(r);
  return r.json();
}

/** A GET with the session's credentials; an expired access token is refreshed once. */
async function authorized(url) {
  const go = () => fetch(url, { headers: accessToken() ? { authorization: `Bearer ${accessToken()}` } : {}, credentials: 'same-origin' });
  let r = await go();
  if (r.status === 401 && hasRefresh()) { await refresh(); r = await go(); }
  return r;
}

async function failure(response) {
  const err = (await response.json().catch(() => null))?.error ?? {};
  return new ApiError(response.status, err.code ?? 'error', err.message ?? `HTTP ${response.status}`);
}

export function sizeLabel(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let n = bytes / 1024;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

/**
 * Uploads one file into a channel. `onProgress(fraction)` follows the bytes sent. Returns
 * `{ done, abort }`: `done` resolves to the stored file's info, or rejects with an ApiError.
 */
export function upload(channelId, file, onProgress) {
  let xhr = null;
  let aborted = false;
  const attempt = () => new Promise((resolve, reject) => {
    xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/files?channel_id=${encodeURIComponent(channelId)}`);
    xhr.setRequestHeader('accept', 'application/json');
    if (accessToken()) xhr.setRequestHeader('authorization', `Bearer ${accessToken()}`);
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON: reported below */ }
      if (xhr.status === 201 && body?.files?.length === 1) { resolve(body.files[0]); return; }
      const err = body?.error ?? {};
      reject(new ApiError(xhr.status, err.code ?? 'error', err.message ?? `HTTP ${xhr.status}`));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'The upload was interrupted. Try again.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled')));
    const form = new FormData();
    form.append('files', file, file.name);
    xhr.send(form);
  });
  const done = attempt().catch(async (e) => {
    if (e.status !== 401 || !hasRefresh() || aborted) throw e;
    await refresh();
    return attempt();
  });
  return { done, abort: () => { aborted = true; xhr?.abort(); } };
}

/** id → object URL of a fetched thumbnail or original; the oldest are let go past `KEEP`. */
const blobs = new Map();
const KEEP = 300;

function blobUrl(path) {
  if (blobs.has(path)) return blobs.get(path);
  const url = authorized(path).then(async (r) => {
    if (!r.ok) throw await failure(r);
    return URL.createObjectURL(await r.blob());
  });
  url.catch(() => blobs.delete(path));
  blobs.set(path, url);
  if (blobs.size > KEEP) {
    const [oldest, promise] = blobs.entries().next().value;
    blobs.delete(oldest);
    promise.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  }
  return url;
}

/** Saves a file under its name: fetched with the token, handed to the browser as a download. */
async function download(file) {
  const url = await blobUrl(`/api/v1/files/${file.id}`);
  const a = h('a', { href: url, download: file.name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

const saveFile = (f) => download(f).catch((e) => announce(`Cannot download ${f.name}: ${e.message}`, 'warn'));

const isImage = (f) => f.has_thumbnail && f.mime_type.startsWith('image/');

/** Fits `w`×`h` in a box, for a placeholder of the right shape while the image loads. */
function fit(w, h0, maxW, maxH) {
  if (!w || !h0) return [maxW, maxH];
  const k = Math.min(1, maxW / w, maxH / h0);
  return [Math.round(w * k), Math.round(h0 * k)];
}

function viewImage(file) {
  const img = h('img', { class: 'full-image', alt: file.name });
  blobUrl(`/api/v1/files/${file.id}`).then((u) => { img.src = u; }).catch(() => { img.alt = `${file.name} (cannot be loaded)`; });
  modal(file.name, h('div', { class: 'stack' }, img,
    h('button', { type: 'button', class: 'small', 'data-autofocus': true, onclick: () => saveFile(file) }, `Download (${sizeLabel(file.size)})`)));
}

/** A post's files: images inline (their thumbnails; click for the whole), others as download links. */
export function attachmentList(files) {
  return h('ul', { class: 'attachments', 'aria-label': 'Attachments' }, files.map((f) => {
    if (isImage(f)) {
      const [w, ht] = fit(f.width, f.height, 360, 240);
      const img = h('img', { alt: f.name, width: w, height: ht, loading: 'lazy', dataset: { fileId: f.id } });
      blobUrl(`/api/v1/files/${f.id}/thumbnail`).then((u) => { img.src = u; }).catch(() => { img.alt = `${f.name} (cannot be loaded)`; });
      return h('li', { class: 'attachment image' },
        h('button', { type: 'button', class: 'thumb', 'aria-label': `View image ${f.name}`, onclick: () => viewImage(f) }, img));
    }
    return h('li', { class: 'attachment file' },
      h('button', { type: 'button', class: 'link file-link', 'aria-label': `Download ${f.name}, ${sizeLabel(f.size)}`, dataset: { fileId: f.id }, onclick: () => saveFile(f) },
        icon(DOCUMENT, 16), ' ', f.name),
      h('span', { class: 'muted' }, ` ${sizeLabel(f.size)}`));
  }));
}
