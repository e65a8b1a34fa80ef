// System administration (system admins only): site settings, site-wide invite codes, and
// deactivating or reactivating accounts. The server checks every call; this page only shows them.

import { get, patch, post } from './api.js';
import { announce, h } from './dom.js';

const INTEGRATION_SWITCHES = [
  ['enable_personal_access_tokens', 'Anyone may create personal access tokens'],
  ['enable_bot_account_creation', 'Anyone may create bot accounts'],
  ['enable_incoming_webhooks', 'Incoming webhooks'],
  ['incoming_webhooks_admins_only', 'Only admins may create incoming webhooks'],
  ['enable_post_username_override', 'Webhooks may set the name shown on their posts'],
  ['enable_post_icon_override', 'Webhooks may set the picture shown on their posts'],
  ['enable_outgoing_webhooks', 'Outgoing webhooks'],
  ['enable_commands', 'Slash commands'],
];

function field(id, label, control) {
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

export async function showAdmin(main, me) {
  const error = h('p', { class: 'error', role: 'alert' });
  main.replaceChildren(h('h1', { id: 'channel-title', tabindex: '-1' }, 'System settings'), error);
  let site;
  try { site = await get('/admin/config/site'); } catch (e) { error.textContent = e.message; return; }
  const name = h('input', { value: site.site_name, maxlength: 64, required: true });
  const registration = h('select', {}, [['open', 'Open: anyone may sign up'], ['invite_only', 'Invite code required'], ['closed', 'Closed']]
    .map(([v, l]) => h('option', { value: v, selected: site.registration === v }, l)));
  const maxConn = h('input', { type: 'number', min: 1, max: 1000, value: String(site.max_simultaneous_connections) });
  const teams = h('input', { type: 'checkbox', checked: site.allow_team_creation });
  // The integration switches this server has (each is a boolean site setting).
  const switches = INTEGRATION_SWITCHES.filter(([key]) => typeof site[key] === 'boolean').map(([key, label]) => {
    const box = h('input', { type: 'checkbox', checked: site[key], id: `site-${key}`, dataset: { key } });
    return [key, box, h('div', { class: 'field inline' }, box, h('label', { for: box.id }, label))];
  });
  const settings = h('form', { class: 'stack card', 'aria-labelledby': 'site-h' }, h('h2', { id: 'site-h' }, 'Site'),
    field('site-name', 'Site name', name), field('site-registration', 'Registration', registration),
    field('site-maxconn', 'Connections per user (max_simultaneous_connections)', maxConn),
    h('div', { class: 'field inline' }, teams, h('label', { for: 'site-teams' }, 'Anyone may create teams')),
    switches.length ? h('fieldset', { class: 'stack' }, h('legend', {}, 'Integrations'), switches.map(([, , row]) => row)) : null,
    h('button', { type: 'submit', class: 'primary' }, 'Save settings'));
  teams.id = 'site-teams';
  settings.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const body = { site_name: name.value, registration: registration.value, max_simultaneous_connections: Number(maxConn.value), allow_team_creation: teams.checked };
      for (const [key, box] of switches) body[key] = box.checked;
      await patch('/admin/config/site', body);
      announce('Settings saved');
    } catch (err) { error.textContent = err.message; }
  });

  const code = h('output', { class: 'code', 'aria-live': 'polite' });
  const uses = h('input', { type: 'number', min: 1, max: 1000, value: '1' });
  const invites = h('form', { class: 'stack card', 'aria-labelledby': 'inv-h' }, h('h2', { id: 'inv-h' }, 'Invite codes'),
    field('invite-uses', 'Accounts it may create', uses), h('button', { type: 'submit' }, 'Create invite code'), code);
  invites.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { const inv = await post('/admin/invites', { max_uses: Number(uses.value) }); code.textContent = `Code: ${inv.code}`; } catch (err) { error.textContent = err.message; }
  });

  const q = h('input', { type: 'search', autocomplete: 'off' });
  const people = h('ul', { class: 'people' });
  const search = async () => {
    const users = await get(`/users?q=${encodeURIComponent(q.value.trim())}&limit=50`).catch(() => []);
    people.replaceChildren(...users.map((u) => {
      if (u.id === me.id) return h('li', {}, h('span', {}, `${u.display_name || u.username} (@${u.username}) — you`));
      const b = h('button', { type: 'button', class: u.is_active ? 'small danger' : 'small' }, u.is_active ? 'Deactivate' : 'Activate');
      b.addEventListener('click', async () => {
        try { await post(`/users/${u.id}/${u.is_active ? 'deactivate' : 'activate'}`); announce(`${u.username} ${u.is_active ? 'deactivated' : 'activated'}`); search(); } catch (err) { error.textContent = err.message; }
      });
      return h('li', {}, h('span', {}, `${u.display_name || u.username} (@${u.username})${u.is_active ? '' : ' — deactivated'}`), b);
    }));
  };
  q.addEventListener('input', search);
  const users = h('section', { class: 'stack card', 'aria-labelledby': 'users-h' }, h('h2', { id: 'users-h' }, 'People'), field('user-q', 'Find people', q), people);
  main.append(h('div', { class: 'admin' }, settings, invites, users));
  search();
  document.getElementById('channel-title').focus();
}
