// A small Markdown subset rendered straight to DOM nodes (never through HTML): code blocks, quotes,
// lists, paragraphs; inline code, bold, italics, links and @mentions. A link is kept only when its
// URL is http(s) or mailto; anything else (`javascript:`, `data:` …) stays visible as plain text.

import { h } from './dom.js';

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** The URL when it is safe to link to, else null. */
export function safeUrl(text) {
  try {
    const url = new URL(text, location.origin);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

const INLINE = new RegExp([
  '(?<code>`[^`\\n]+`)',
  '(?<bold>\\*\\*[^*\\n]+?\\*\\*)',
  '(?<italic>\\*[^*\\s][^*\\n]*?\\*|\\b_[^_\\s][^_\\n]*?_\\b)',
  '(?<link>\\[[^\\]\\n]+\\]\\([^)\\s]+\\))',
  '(?<url>\\bhttps?:\\/\\/[^\\s<>()]+[^\\s<>().,;:!?\'"])',
  '(?<mention>(?<![\\w@])@[a-z0-9._-]*[a-z0-9_])',
].join('|'), 'gi');

/** Inline markup of one line as nodes. `me` marks mentions of the reader. */
export function inline(text, me) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > at) out.push(text.slice(at, m.index));
    const [all] = m;
    const g = m.groups;
    if (g.code) out.push(h('code', {}, all.slice(1, -1)));
    else if (g.bold) out.push(h('strong', {}, inline(all.slice(2, -2), me)));
    else if (g.italic) out.push(h('em', {}, inline(all.slice(1, -1), me)));
    else if (g.link) {
      const close = all.indexOf('](');
      const label = all.slice(1, close);
      const href = safeUrl(all.slice(close + 2, -1));
      out.push(href ? link(href, inline(label, me)) : all);
    } else if (g.url) {
      const href = safeUrl(all);
      out.push(href ? link(href, all) : all);
    } else if (g.mention) {
      const name = all.slice(1).toLowerCase();
      const self = me && (name === me || name === 'channel' || name === 'here' || name === 'all');
      out.push(h('span', { class: self ? 'mention mention-me' : 'mention' }, all));
    }
    at = m.index + all.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

function link(href, children) {
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, children);
}

/** A whole message as a fragment of block nodes. */
export function render(text, me) {
  const root = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (!paragraph.length) return;
    const p = h('p');
    paragraph.forEach((line, n) => {
      if (n) p.append(h('br'));
      p.append(...inline(line, me));
    });
    root.append(p);
    paragraph = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith('```')) {
      flush();
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].startsWith('```')) body.push(lines[i++]);
      i += 1;
      root.append(h('pre', {}, h('code', {}, body.join('\n'))));
      continue;
    }
    if (/^>\s?/.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && /^>\s?/.test(lines[i])) quoted.push(lines[i++].replace(/^>\s?/, ''));
      root.append(h('blockquote', {}, render(quoted.join('\n'), me)));
      continue;
    }
    const bullet = /^\s*[-*+]\s+(.*)$/;
    const numbered = /^\s*\d+[.)]\s+(.*)$/;
    if (bullet.test(line) || numbered.test(line)) {
      flush();
      const pattern = bullet.test(line) ? bullet : numbered;
      const list = h(pattern === bullet ? 'ul' : 'ol');
      while (i < lines.length && pattern.test(lines[i])) list.append(h('li', {}, inline(lines[i++].match(pattern)[1], me)));
      root.append(list);
      continue;
    }
    if (line.trim() === '') flush();
    else paragraph.push(line);
    i += 1;
  }
  flush();
  return root;
}
