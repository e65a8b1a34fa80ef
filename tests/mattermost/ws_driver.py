"""mattermostdriver's init_websocket against RustChat's /api/v4/websocket: authentication_challenge,
then hello with seq 0, then a `posted` event for a post made from the other node (its post a JSON
string). Prints {"passed": N} or exits 1.
"""
import asyncio
import json
import os
import sys
import threading
from urllib.parse import urlparse

from mattermostdriver import Driver

frames = []
got_posted = threading.Event()
got_hello = threading.Event()


def driver(base, login, password):
    url = urlparse(base)
    return Driver({'url': url.hostname, 'port': url.port, 'scheme': url.scheme, 'login_id': login,
                   'password': password, 'timeout': 10, 'keepalive': False})


async def handler(message):
    frame = json.loads(message)
    frames.append(frame)
    if frame.get('event') == 'hello':
        got_hello.set()
    if frame.get('event') == 'posted' and json.loads(frame['data']['post'])['message'] == 'hello python':
        got_posted.set()


def listen(d):
    asyncio.set_event_loop(asyncio.new_event_loop())
    d.init_websocket(handler)


def main():
    env = os.environ
    alice = driver(env['MM_BASE0'], env['MM_ALICE'], env['MM_ALICE_PASSWORD'])
    bob = driver(env['MM_BASE1'], env['MM_BOB'], env['MM_BOB_PASSWORD'])
    alice.login()
    bob_me = bob.login()
    team = next(t for t in bob.teams.get_user_teams('me') if t['name'] == env['MM_TEAM'])
    channel = next(c for c in bob.channels.get_channels_for_user('me', team['id']) if c['name'] == env['MM_CHANNEL'])
    threading.Thread(target=listen, args=(alice,), daemon=True).start()
    passed = 0
    if not got_hello.wait(15):
        raise AssertionError(f'no hello: {frames}')
    hello = next(f for f in frames if f.get('event') == 'hello')
    assert hello['seq'] == 0 and len(hello['data']['connection_id']) == 26, hello
    passed += 1
    bob.posts.create_post({'channel_id': channel['id'], 'message': 'hello python'})
    if not got_posted.wait(15):
        raise AssertionError(f'no posted: {frames}')
    event = next(f for f in frames if f.get('event') == 'posted')
    post = json.loads(event['data']['post'])
    assert post['user_id'] == bob_me['id'] and event['broadcast']['channel_id'] == channel['id'], event
    assert event['data']['sender_name'] == '@' + bob_me['username'], event
    passed += 1
    seqs = [f['seq'] for f in frames if 'seq' in f]
    assert seqs == list(range(len(seqs))), seqs
    passed += 1
    print(json.dumps({'passed': passed}), flush=True)
    os._exit(0)


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # noqa: BLE001
        print(f'FAILED: {e!r}', file=sys.stderr, flush=True)
        os._exit(1)
