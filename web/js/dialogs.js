// Modal dialogs on the native <dialog>: focus moves into it, Escape closes it, and focus returns to
// whatever opened it. Forms inside report errors in an alert region.

import { h } from './dom.js';

/** Opens a modal with a title and body; resolves when it closes. */
export function modal(title, body, { onClose } = {}) {
  const opener = document.activeElement;
  const heading = h('h2', { id: `dlg-${Date.now()}` }, title);
  const close = h('button', { type: 'button', class: 'icon', 'aria-label': 'Close', onclick: () => dialog.close() }, '×');
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': heading.id }, h('header', {}, heading, close), body);
  document.body.append(dialog);
  dialog.addEventListener('close', () => {
    dialog.remove();
    onClose?.();
    if (opener && document.contains(opener)) opener.focus();
  });
  dialog.showModal();
  const first = dialog.querySelector('input, select, textarea, [data-autofocus]');
  (first ?? close).focus();
  return dialog;
}

/** A form in a modal: `fields` are [name, label, attrs]; `submit(values)` may throw to show an error. */
export function formDialog(title, fields, submitLabel, submit) {
  const error = h('p', { class: 'error', role: 'alert' });
  const inputs = fields.map(([name, label, attrs = {}]) => {
    const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
    const control = attrs.options
      ? h('select', { id, name }, attrs.options.map(([v, l]) => h('option', { value: v }, l)))
      : h(attrs.multiline ? 'textarea' : 'input', { id, name, ...attrs, multiline: null });
    return h('div', { class: 'field' }, h('label', { for: id }, label), control);
  });
  const form = h('form', { class: 'stack' }, inputs, error, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, submitLabel)));
  const dialog = modal(title, form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const values = Object.fromEntries(new FormData(form));
    try {
      await submit(values, dialog);
      if (dialog.open) dialog.close();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return dialog;
}
