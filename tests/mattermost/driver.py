"""Drives RustChat's /api/v4 with the community Python driver (mattermostdriver 7.3.2), unchanged.

Started by tests/api/mattermost.rs with MM_BASE0/MM_BASE1 (two nodes of one cluster), the users'
credentials and the team and channel names. Prints one JSON line {"passed": N} or exits 1.
"""
import json
import os
import sys
import time
from urllib.parse import urlparse

from mattermostdriver import Driver
from mattermostdriver.exceptions import FeatureDisabled, NoAccessTokenProvided, NotEnoughPermissions

passed = 0


def driver(base, login, password):
    url = urlparse(base)
    return Driver({'url': url.hostname, 'port': url.port, 'scheme': url.scheme, 'login_id': login,
                   'password': password, 'timeout': 10})


def check(ok, what):
    global passed
    if not ok:
        raise AssertionError(what)


def refused(call, exc, what):
    try:
        call()
    except exc as e:
        # The message comes from the AppError body.
        check(str(e) != '', f'{what}: the error has a message')
        return
    raise AssertionError(f'{what}: expected {exc.__name__}')


def main():
    global passed
    env = os.environ
    alice = driver(env['MM_BASE0'], env['MM_ALICE'], env['MM_ALICE_PASSWORD'])
    bob = driver(env['MM_BASE1'], env['MM_BOB'], env['MM_BOB_PASSWORD'])
    me = alice.login()
    check(me['username'] == env['MM_ALICE'] and len(me['id']) == 26, f'login: {me}')
    bob_me = bob.login()
    check(bob.users.get_user('me')['id'] == bob_me['id'], 'users/me')
    passed += 1

    refused(lambda: driver(env['MM_BASE0'], env['MM_ALICE'], 'wrong-password').login(), NoAccessTokenProvided,
            'a wrong password')
    passed += 1

    teams = alice.teams.get_user_teams('me')
    team = next(t for t in teams if t['name'] == env['MM_TEAM'])
    channels = bob.channels.get_channels_for_user('me', team['id'])
    channel = next(c for c in channels if c['name'] == env['MM_CHANNEL'])
    check(channel['type'] == 'O' and channel['team_id'] == team['id'], f'channel: {channel}')
    passed += 1

    posts = [alice.posts.create_post({'channel_id': channel['id'], 'message': f'py {i}'}) for i in range(5)]
    check(all(p['user_id'] == me['id'] for p in posts), 'created posts')
    seen = []
    for page in range(3):
        got = bob.posts.get_posts_for_channel(channel['id'], params={'page': page, 'per_page': 2})
        seen += [got['posts'][i]['message'] for i in got['order']]
    check(seen == [f'py {i}' for i in (4, 3, 2, 1, 0)], f'pages: {seen}')
    passed += 1

    edited = alice.posts.patch_post(posts[0]['id'], {'message': 'py 0, edited'})
    check(edited['message'] == 'py 0, edited' and edited['edit_at'] > 0, f'patch: {edited}')
    updated = alice.posts.update_post(posts[1]['id'], {'id': posts[1]['id'], 'message': 'py 1, updated'})
    check(updated['message'] == 'py 1, updated', f'update: {updated}')
    refused(lambda: bob.posts.patch_post(posts[0]['id'], {'message': 'not mine'}), NotEnoughPermissions,
            "editing another's post")
    passed += 1

    since = int(time.time() * 1000) - 1
    time.sleep(0.01)
    check(alice.posts.delete_post(posts[2]['id'])['status'] == 'OK', 'delete')
    later = bob.posts.get_posts_for_channel(channel['id'], params={'since': since})
    check(later['posts'][posts[2]['id']]['delete_at'] > 0, f'since: {later}')
    passed += 1

    reply = bob.posts.create_post({'channel_id': channel['id'], 'message': 'py reply', 'root_id': posts[3]['id']})
    thread = alice.posts.get_thread(posts[3]['id'])
    check(sorted(thread['order']) == sorted([posts[3]['id'], reply['id']]), f'thread: {thread}')
    passed += 1

    bob.reactions.create_reaction({'user_id': bob_me['id'], 'post_id': posts[4]['id'], 'emoji_name': 'tada'})
    reactions = alice.reactions.get_reactions_of_post(posts[4]['id'])
    check([r['emoji_name'] for r in reactions] == ['tada'], f'reactions: {reactions}')
    bob.reactions.delete_reaction(bob_me['id'], posts[4]['id'], 'tada')
    check(alice.reactions.get_reactions_of_post(posts[4]['id']) == [], 'reaction removed')
    passed += 1

    refused(lambda: alice.client.get('/emoji'), FeatureDisabled, 'an endpoint RustChat lacks')
    passed += 1

    alice.logout()
    refused(lambda: alice.users.get_user('me'), NoAccessTokenProvided, 'after logout')
    passed += 1

    print(json.dumps({'passed': passed}))


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # noqa: BLE001
        print(f'FAILED after {passed} passed checks: {e!r}', file=sys.stderr)
        sys.exit(1)
