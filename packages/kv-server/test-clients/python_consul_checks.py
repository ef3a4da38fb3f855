#!/usr/bin/python3
"""Drives p2-kv-server through Debian's python3-consul (python-consul 0.7.x), a Consul client
written by another project. Usage: python_consul_checks.py PORT TOKEN

Prints one JSON line per check: {"check": NAME, "ok": true|false, "detail": ...}, or
{"check": NAME, "ok": true, "skipped": REASON} for an operation the client itself lacks.
Run by src/python-consul.compat.test.ts against the real server process.
"""
import json
import sys
import threading
import time
import traceback

import consul

PORT = int(sys.argv[1])
TOKEN = sys.argv[2]
c = consul.Consul(port=PORT, token=TOKEN)
# python-consul 0.7.1 passes the token (?token=) only from methods that take one (KV, catalog...),
# never on /v1/session/* or agent.self: with ACLs on, Consul (default deny) and kv-server refuse
# those.
# Its users set the header on the client's requests session, as `s` does.
s = consul.Consul(port=PORT, token=TOKEN)
s.http.session.headers['X-Consul-Token'] = TOKEN


def report(name, fn):
    try:
        detail = fn()
        if isinstance(detail, dict) and 'skipped' in detail:
            print(json.dumps({'check': name, 'ok': True, 'skipped': detail['skipped']}))
        else:
            print(json.dumps({'check': name, 'ok': True, 'detail': detail}))
    except Exception:  # one failing check must not hide the others
        print(json.dumps({'check': name, 'ok': False, 'detail': traceback.format_exc()}))
    sys.stdout.flush()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def status():
    leader = c.status.leader()
    peers = c.status.peers()
    expect(isinstance(leader, str) and ':' in leader, 'leader is host:port: %r' % leader)
    expect(peers == [leader], 'peers is [leader]: %r' % peers)
    return leader


def acl():
    for token in (None, 'wrong-token'):
        anon = consul.Consul(port=PORT, token=token)
        try:
            anon.kv.get('py/any')
        except consul.ACLPermissionDenied:
            continue
        raise AssertionError('a read with token %r was not refused' % token)
    try:
        consul.Consul(port=PORT, token='wrong-token').kv.put('py/any', 'x')
    except consul.ACLPermissionDenied:
        return 'refused without a token and with a wrong one'
    raise AssertionError('a write with a wrong token was not refused')


def put_get():
    expect(c.kv.put('py/a', 'hello') is True, 'put answers True')
    index, entry = c.kv.get('py/a')
    expect(entry['Value'] == b'hello', 'value round-trips: %r' % entry['Value'])
    expect(entry['Key'] == 'py/a' and entry['Flags'] == 0, 'key and flags: %r' % entry)
    expect(int(index) == entry['ModifyIndex'], 'X-Consul-Index is the ModifyIndex')
    expect(c.kv.put('py/bin', b'\x00\xff\x01') is True, 'binary put')
    expect(c.kv.get('py/bin')[1]['Value'] == b'\x00\xff\x01', 'binary value round-trips')
    index, missing = c.kv.get('py/none')
    expect(missing is None and int(index) > 0, 'absent key: (index, None)')
    return {'index': int(index)}


def flags():
    expect(c.kv.put('py/flagged', 'v', flags=42) is True, 'put with flags')
    expect(c.kv.get('py/flagged')[1]['Flags'] == 42, 'flags kept')
    c.kv.put('py/flagged', 'v2')
    expect(c.kv.get('py/flagged')[1]['Flags'] == 0, 'a put without flags resets them')
    return 42


def blocking():
    index, _ = c.kv.get('py/a')
    same, entry = c.kv.get('py/a', index=index, wait='300ms')
    expect(same == index and entry['Value'] == b'hello', 'a timed-out wait answers the same index')

    def later():
        time.sleep(0.3)
        c.kv.put('py/a', 'changed')

    writer = threading.Thread(target=later)
    writer.start()
    start = time.time()
    newer, entry = c.kv.get('py/a', index=index, wait='10s')
    writer.join()
    expect(entry['Value'] == b'changed', 'the wait returns the new value')
    expect(int(newer) > int(index), 'with a higher index')
    expect(time.time() - start < 9, 'woken by the write, not by the wait timeout')
    return {'from': int(index), 'to': int(newer)}


def recurse():
    for key in ('py/tree/b/c', 'py/tree/a', 'py/tree/b/d'):
        c.kv.put(key, key)
    index, items = c.kv.get('py/tree/', recurse=True)
    keys = [item['Key'] for item in items]
    expect(keys == ['py/tree/a', 'py/tree/b/c', 'py/tree/b/d'], 'sorted entries: %r' % keys)
    expect(items[0]['Value'] == b'py/tree/a', 'values decoded')
    expect(int(index) == max(item['ModifyIndex'] for item in items), 'prefix index')
    return keys


def keys_separator():
    _, keys = c.kv.get('py/tree/', keys=True, separator='/')
    expect(keys == ['py/tree/a', 'py/tree/b/'], 'keys up to the separator: %r' % keys)
    _, everything = c.kv.get('py/tree/', keys=True)
    expect(len(everything) == 3, 'all keys without a separator: %r' % everything)
    return keys


def cas():
    _, entry = c.kv.get('py/a')
    modify = entry['ModifyIndex']
    expect(c.kv.put('py/a', 'stale', cas=modify - 1) is False, 'a stale cas answers False')
    expect(c.kv.put('py/a', 'fresh', cas=modify) is True, 'the current cas answers True')
    expect(c.kv.put('py/a', 'again', cas=0) is False, 'cas=0 on an existing key answers False')
    expect(c.kv.put('py/new', 'n', cas=0) is True, 'cas=0 creates')
    current = c.kv.get('py/new')[1]['ModifyIndex']
    expect(c.kv.delete('py/new', cas=current + 100) is False, 'delete with a stale cas')
    expect(c.kv.delete('py/new', cas=current) is True, 'delete with the current cas')
    expect(c.kv.get('py/new')[1] is None, 'deleted')
    return modify


def delete_recurse():
    expect(c.kv.delete('py/tree/', recurse=True) is True, 'delete recurse')
    _, items = c.kv.get('py/tree/', recurse=True)
    expect(items is None, 'the tree is gone: %r' % items)
    expect(c.kv.delete('py/never') is True, 'deleting an absent key answers True')
    return True


def consistency_and_dc():
    for mode in ('consistent', 'stale'):
        _, entry = consul.Consul(port=PORT, token=TOKEN, consistency=mode).kv.get('py/a')
        expect(entry['Value'] == b'fresh', '%s read' % mode)
    expect(c.kv.get('py/a', dc='dc1')[1]['Value'] == b'fresh', 'our own dc')
    try:
        c.kv.get('py/a', dc='elsewhere')
    except consul.ConsulException as error:
        expect('No path to datacenter' in str(error), 'message: %s' % error)
        return 'dc1 ok, elsewhere refused'
    raise AssertionError('another datacenter was answered')


def sessions():
    try:
        c.session.create(name='py-no-token')
        raise AssertionError('a session without a token was created')
    except consul.ACLPermissionDenied:
        pass
    sid = s.session.create(name='py-lock', ttl=10, lock_delay=0, behavior='release')
    _, info = s.session.info(sid)
    expect(info['ID'] == sid and info['Name'] == 'py-lock', 'info: %r' % info)
    expect(info['TTL'] == '10s' and info['Behavior'] == 'release', 'ttl/behavior: %r' % info)
    expect(info['LockDelay'] == 0, 'lock delay 0s: %r' % info['LockDelay'])
    index, listed = s.session.list()
    expect(sid in [x['ID'] for x in listed] and int(index) > 0, 'listed')
    _, on_node = s.session.node(info['Node'])
    expect(sid in [x['ID'] for x in on_node], 'listed on its node')
    renewed = s.session.renew(sid)
    expect(renewed['ID'] == sid, 'renew answers the session: %r' % renewed)

    expect(s.kv.put('py/lock', 'me', acquire=sid) is True, 'acquire')
    _, held = s.kv.get('py/lock')
    expect(held['Session'] == sid and held['LockIndex'] == 1, 'held: %r' % held)
    other = s.session.create(name='py-other', lock_delay=0)
    expect(s.kv.put('py/lock', 'them', acquire=other) is False, 'a second holder is refused')
    expect(s.kv.put('py/lock', 'done', release=other) is False, 'only the holder releases')
    expect(s.kv.put('py/lock', 'done', release=sid) is True, 'release')
    expect('Session' not in s.kv.get('py/lock')[1], 'released')
    expect(s.kv.put('py/lock', 'them', acquire=other) is True, 'the other acquires now')

    expect(s.session.destroy(other) is True, 'destroy')
    expect('Session' not in s.kv.get('py/lock')[1], 'destroy releases (behavior release)')
    expect(s.session.info(other)[1] is None, 'destroyed session: info is None')

    doomed = s.session.create(name='py-delete', behavior='delete', lock_delay=0)
    s.kv.put('py/ephemeral', 'x', acquire=doomed)
    s.session.destroy(doomed)
    expect(s.kv.get('py/ephemeral')[1] is None, 'behavior delete removes the key')
    s.session.destroy(sid)
    try:
        s.session.renew(sid)
        raise AssertionError('renewing a destroyed session succeeded')
    except consul.NotFound:
        pass
    return sid


def catalog_agent():
    index, nodes = c.catalog.nodes()
    expect(len(nodes) == 1 and int(index) > 0, 'one node: %r' % nodes)
    try:
        c.agent.self()
        raise AssertionError('agent/self answered without a token')
    except consul.ACLPermissionDenied:
        pass
    me = s.agent.self()
    expect(me['Config']['NodeName'] == nodes[0]['Node'], 'agent self names the node')
    return nodes[0]['Node']


def txn():
    if not hasattr(c, 'txn'):
        return {'skipped': 'python-consul %s has no Txn API' % consul.__version__}
    ops = [{'KV': {'Verb': 'set', 'Key': 'py/txn', 'Value': 'eA=='}},
           {'KV': {'Verb': 'get', 'Key': 'py/txn'}}]
    result = c.txn.put(ops)
    expect(result['Results'][1]['KV']['Key'] == 'py/txn', 'txn result: %r' % result)
    return True


for name, fn in [('status', status), ('acl', acl), ('put_get', put_get), ('flags', flags),
                 ('blocking', blocking), ('recurse', recurse),
                 ('keys_separator', keys_separator), ('cas', cas),
                 ('delete_recurse', delete_recurse), ('consistency_and_dc', consistency_and_dc),
                 ('sessions', sessions), ('catalog_agent', catalog_agent), ('txn', txn)]:
    report(name, fn)
