// Drives RustChat's /api/v4 with Mattermost's own JS client (@mattermost/client Client4), unchanged.
// Started by tests/api/mattermost.rs with MM_BASE0/MM_BASE1 (two nodes of one cluster), the users'
// credentials and the team and channel names. Prints one JSON line {"passed":N} or fails (exit 1).
'use strict';
const assert = require('node:assert/strict');
const { Client4, ClientError } = require('@mattermost/client');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
let passed = 0;
const check = (what, fn) => fn().then(() => { passed += 1; }, (e) => { e.message = `${what}: ${e.message}`; throw e; });
function client(base) {
  const c = new Client4();
  c.setUrl(base);
  return c;
}
async function refused(promise, status, id) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof ClientError, `a ClientError, got ${e}`);
    assert.equal(e.status_code, status, e.message);
    if (id) assert.equal(e.server_error_id, id);
    assert.ok(e.message.length > 0);
    return e;
  }
  throw new Error(`expected HTTP ${status}`);
}

async function main() {
  const alice = client(env('MM_BASE0'));
  const bob = client(env('MM_BASE1'));
  let me, team, channel, bobMe;
  const posts = [];

  await check('login answers the user and a token', async () => {
    me = await alice.login(env('MM_ALICE'), env('MM_ALICE_PASSWORD'));
    assert.equal(me.username, env('MM_ALICE'));
    assert.match(me.id, /^[a-z0-9]{26}$/);
    assert.ok(alice.getToken().length > 20);
    assert.ok(alice.serverVersion.startsWith('9.11.0'), alice.serverVersion);
    bobMe = await bob.login(env('MM_BOB'), env('MM_BOB_PASSWORD'));
    assert.equal((await bob.getMe()).id, bobMe.id);
  });
  await check('a wrong password is a 401 AppError', async () => {
    await refused(client(env('MM_BASE0')).login(env('MM_ALICE'), 'wrong-password'), 401, 'api.user.login.invalid_credentials_email_username');
  });
  await check('a bad token is a 401 AppError', async () => {
    const c = client(env('MM_BASE1'));
    c.setToken('not-a-token');
    await refused(c.getMe(), 401, 'api.context.session_expired.app_error');
  });
  await check('teams and channels', async () => {
    const teams = await alice.getMyTeams();
    team = teams.find((t) => t.name === env('MM_TEAM'));
    assert.ok(team, JSON.stringify(teams));
    assert.equal((await bob.getTeam(team.id)).name, team.name);
    assert.equal((await bob.getTeamByName(team.name)).id, team.id);
    const channels = await alice.getMyChannels(team.id);
    channel = channels.find((c) => c.name === env('MM_CHANNEL'));
    assert.ok(channel, JSON.stringify(channels));
    assert.equal(channel.type, 'O');
    assert.equal((await bob.getChannel(channel.id)).name, channel.name);
    assert.equal((await bob.getChannelByName(team.id, channel.name)).id, channel.id);
    const members = await bob.getMyChannelMembers(team.id);
    assert.ok(members.some((m) => m.channel_id === channel.id && typeof m.msg_count === 'number'));
    const users = await alice.getProfilesInChannel(channel.id, 0, 60);
    assert.deepEqual(users.map((u) => u.username).sort(), [env('MM_ALICE'), env('MM_BOB')].sort());
  });
  await check('posting, and paging a channel newest first', async () => {
    for (let i = 0; i < 7; i += 1) {
      const p = await alice.createPost({ channel_id: channel.id, message: `message ${i}` });
      assert.equal(p.channel_id, channel.id);
      assert.equal(p.user_id, me.id);
      assert.equal(p.root_id, '');
      posts.push(p);
    }
    const seen = [];
    for (let page = 0; page < 3; page += 1) {
      const list = await bob.getPosts(channel.id, page, 3);
      assert.equal(list.order.length, page < 2 ? 3 : 1);
      for (const id of list.order) seen.push(list.posts[id].message);
    }
    assert.deepEqual(seen, [6, 5, 4, 3, 2, 1, 0].map((i) => `message ${i}`));
    const before = await bob.getPostsBefore(channel.id, posts[3].id, 0, 2);
    assert.deepEqual(before.order, [posts[2].id, posts[1].id]);
    const after = await bob.getPostsAfter(channel.id, posts[3].id, 0, 2);
    assert.deepEqual(after.order.slice().sort(), [posts[4].id, posts[5].id].sort());
  });
  await check('editing, and only the author may', async () => {
    const edited = await alice.patchPost({ id: posts[0].id, message: 'message 0, edited' });
    assert.equal(edited.message, 'message 0, edited');
    assert.ok(edited.edit_at > 0);
    const put = await alice.updatePost({ ...posts[1], message: 'message 1, replaced' });
    assert.equal(put.message, 'message 1, replaced');
    await refused(bob.patchPost({ id: posts[0].id, message: 'not mine' }), 403, 'api.context.permissions.app_error');
    assert.equal((await bob.getPost(posts[1].id)).message, 'message 1, replaced');
  });
  await check('since: edits and deletions after an instant, deleted posts included', async () => {
    const since = Date.now() - 1;
    await new Promise((r) => setTimeout(r, 5));
    await alice.patchPost({ id: posts[2].id, message: 'message 2, late edit' });
    await alice.deletePost(posts[3].id);
    const list = await bob.getPostsSince(channel.id, since);
    assert.equal(list.posts[posts[2].id].message, 'message 2, late edit');
    assert.ok(list.posts[posts[3].id].delete_at > 0, JSON.stringify(list.posts[posts[3].id]));
    assert.ok(!(posts[0].id in list.posts));
  });
  await check('threads', async () => {
    const reply = await bob.createPost({ channel_id: channel.id, message: 'a reply', root_id: posts[4].id });
    assert.equal(reply.root_id, posts[4].id);
    const thread = await alice.getPostThread(posts[4].id);
    assert.deepEqual(thread.order.slice().sort(), [posts[4].id, reply.id].sort());
    assert.equal(thread.posts[reply.id].message, 'a reply');
  });
  await check('reactions', async () => {
    const r = await bob.addReaction(bobMe.id, posts[5].id, 'thumbsup');
    assert.equal(r.emoji_name, 'thumbsup');
    const listed = await alice.getReactionsForPost(posts[5].id);
    assert.deepEqual(listed.map((x) => [x.user_id, x.emoji_name]), [[bobMe.id, 'thumbsup']]);
    await bob.removeReaction(bobMe.id, posts[5].id, 'thumbsup');
    assert.deepEqual(await alice.getReactionsForPost(posts[5].id), []);
  });
  await check('search', async () => {
    const found = await bob.searchPosts(team.id, 'late edit', false);
    assert.deepEqual(found.order, [posts[2].id]);
  });
  await check('preferences are stored', async () => {
    await alice.savePreferences(me.id, [{ user_id: me.id, category: 'display_settings', name: 'use_military_time', value: 'true' }]);
    const prefs = await alice.getMyPreferences();
    assert.ok(prefs.some((p) => p.category === 'display_settings' && p.value === 'true'));
    await refused(bob.savePreferences(me.id, [{ user_id: me.id, category: 'x', name: 'y', value: 'z' }]), 403);
  });
  await check('users and statuses', async () => {
    const byIds = await bob.getProfilesByIds([me.id]);
    assert.equal(byIds[0].username, me.username);
    assert.equal(byIds[0].email, '', 'others do not see the email');
    const byNames = await bob.getProfilesByUsernames([me.username]);
    assert.equal(byNames[0].id, me.id);
    const statuses = await bob.getStatusesByIds([me.id, bobMe.id]);
    assert.equal(statuses.length, 2);
  });
  await check('direct channel, viewing', async () => {
    const dm = await alice.createDirectChannel([me.id, bobMe.id]);
    assert.equal(dm.type, 'D');
    const again = await bob.createDirectChannel([bobMe.id, me.id]);
    assert.equal(again.id, dm.id);
    await alice.createPost({ channel_id: dm.id, message: 'psst' });
    const viewed = await bob.viewMyChannel(dm.id);
    assert.equal(viewed.status, 'OK');
  });
  await check('what is not implemented says so (501 AppError)', async () => {
    await refused(alice.getCustomEmojis(), 501, 'api.context.not_implemented.app_error');
  });
  await check('logout ends the session everywhere', async () => {
    const token = alice.getToken();
    await alice.logout();
    const other = client(env('MM_BASE1'));
    other.setToken(token);
    await refused(other.getMe(), 401);
  });
  console.log(JSON.stringify({ passed }));
}

main().catch((e) => {
  console.error(`FAILED after ${passed} passed checks: ${e.stack || e}`);
  process.exit(1);
});
