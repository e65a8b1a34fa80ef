// Signing in: password login, account creation (open, invite-code or closed registration is the
// server's rule; its refusal is shown as it says), and the single sign-on buttons of the configured
// providers. SSO in code mode comes back with `?sso_code=`, exchanged here for tokens.

import { anonymous, setTokens } from './api.js';
import { h } from './dom.js';

function field(name, label, attrs = {}) {
  const id = `auth-${name}`;
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, name, ...attrs }));
}

/** Trades a one-time SSO code from the URL for tokens; true when signed in that way. */
export async function exchangeSsoCode() {
  const params = new URLSearchParams(location.search);
  const code = params.get('sso_code');
  if (!code) return false;
  history.replaceState(null, '', location.pathname);
  const pair = await anonymous('POST', '/auth/oidc/exchange', { code });
  setTokens(pair);
  return true;
}

/** Draws the sign-in page into `root`; `done()` runs once signed in. */
export function showSignIn(root, done, notice = '') {
  let mode = 'login';
  const error = h('p', { class: 'error', role: 'alert' }, notice);
  const form = h('form', { class: 'stack', 'aria-labelledby': 'auth-title' });
  const title = h('h1', { id: 'auth-title' });
  const toggle = h('button', { type: 'button', class: 'link' });
  const sso = h('div', { class: 'sso stack' });

  const draw = () => {
    title.textContent = mode === 'login' ? 'Sign in to RustChat' : 'Create your account';
    toggle.textContent = mode === 'login' ? 'No account yet? Create one' : 'Have an account? Sign in';
    form.replaceChildren(
      ...(mode === 'login'
        ? [field('login', 'Username or email', { autocomplete: 'username', required: true }),
          field('password', 'Password', { type: 'password', autocomplete: 'current-password', required: true })]
        : [field('username', 'Username', { autocomplete: 'username', required: true, pattern: '[A-Za-z][A-Za-z0-9._\\-]{2,21}', title: '3–22 letters, digits, . _ -, starting with a letter' }),
          field('email', 'Email', { type: 'email', autocomplete: 'email', required: true }),
          field('display_name', 'Display name (optional)', { autocomplete: 'name' }),
          field('password', 'Password (at least 8 characters)', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }),
          field('invite_code', 'Invite code (if registration needs one)', { autocomplete: 'off' })]),
      error,
      h('button', { type: 'submit', class: 'primary' }, mode === 'login' ? 'Sign in' : 'Create account'),
    );
  };
  toggle.addEventListener('click', () => { mode = mode === 'login' ? 'register' : 'login'; error.textContent = ''; draw(); form.querySelector('input').focus(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const values = Object.fromEntries(new FormData(form));
    try {
      let pair;
      if (mode === 'login') pair = await anonymous('POST', '/auth/login', { login: values.login, password: values.password });
      else {
        const body = { username: values.username, email: values.email, password: values.password };
        if (values.display_name) body.display_name = values.display_name;
        if (values.invite_code) body.invite_code = values.invite_code;
        pair = await anonymous('POST', '/auth/register', body);
      }
      setTokens(pair);
      done(pair.user);
    } catch (e) {
      error.textContent = e.message;
    }
  });
  draw();
  anonymous('GET', '/auth/oidc/providers').then((providers) => {
    if (!providers?.length) return;
    sso.replaceChildren(h('p', {}, 'Or sign in with'), ...providers.map((p) => h('a', {
      class: 'button', href: `/api/v1/auth/oidc/${encodeURIComponent(p.id)}/login`,
    }, p.display_name || p.id)));
  }).catch(() => {});
  root.replaceChildren(h('main', { class: 'auth' }, h('div', { class: 'card stack' }, title, form, sso, toggle)));
  form.querySelector('input').focus();
}
