import { EventEmitter } from 'node:events';
import type SimplePeer from 'simple-peer';
import { describe, expect, it } from 'vitest';
import { linkFromSimplePeer, withoutTcpCandidates } from './simplePeerAdapter.ts';

const udp = 'candidate:842163049 1 udp 1677729535 192.0.2.7 49203 typ host generation 0';
const tcp = 'candidate:1890537 1 tcp 1518280447 192.0.2.7 9 typ host tcptype active generation 0';

describe('withoutTcpCandidates', () => {
  it('drops a trickled TCP candidate and keeps a UDP one', () => {
    expect(
      withoutTcpCandidates({ type: 'candidate', candidate: { candidate: tcp, sdpMid: '0' } }),
    ).toBeNull();
    const u = { type: 'candidate', candidate: { candidate: udp, sdpMid: '0' } };
    expect(withoutTcpCandidates(u)).toBe(u);
  });

  it('strips TCP candidate lines from an SDP and leaves the rest as it was', () => {
    const sdp = ['v=0', `a=${udp}`, `a=${tcp}`, 'a=ice-ufrag:x', ''].join('\r\n');
    expect(withoutTcpCandidates({ type: 'offer', sdp })).toEqual({
      type: 'offer',
      sdp: ['v=0', `a=${udp}`, 'a=ice-ufrag:x', ''].join('\r\n'),
    });
  });

  it('passes anything else through unread', () => {
    const r = { renegotiate: true };
    expect(withoutTcpCandidates(r)).toBe(r);
    expect(withoutTcpCandidates('x')).toBe('x');
    expect(withoutTcpCandidates(null)).toBeNull();
  });
});

describe('linkFromSimplePeer', () => {
  it('reports progress when ICE finds a pair, not while it checks', () => {
    const peer = new EventEmitter() as unknown as SimplePeer.Instance;
    const seen: string[] = [];
    linkFromSimplePeer(peer, {
      signal: () => {},
      open: () => seen.push('open'),
      progress: () => seen.push('progress'),
      data: () => {},
      close: () => {},
    });
    peer.emit('iceStateChange', 'checking', 'gathering');
    expect(seen).toEqual([]);
    peer.emit('iceStateChange', 'connected', 'complete');
    peer.emit('connect');
    expect(seen).toEqual(['progress', 'open']);
  });

  it('sends without reading the channel state each time, and a channel that refuses returns false', () => {
    const sent: string[] = [];
    let refuse = false;
    const peer = Object.defineProperties(new EventEmitter(), {
      // In @roamhq/wrtc, readyState is a blocking call into libwebrtc: not once per frame.
      connected: {
        get() {
          throw new Error('connected read');
        },
      },
      send: {
        value(text: string) {
          if (refuse) throw new Error("InvalidStateError: RTCDataChannel.readyState is not 'open'");
          sent.push(text);
        },
      },
    }) as unknown as SimplePeer.Instance;
    const link = linkFromSimplePeer(peer, {
      signal: () => {},
      open: () => {},
      data: () => {},
      close: () => {},
    });
    expect(link.send('early')).toBe(false);
    peer.emit('connect');
    expect(link.send('a')).toBe(true);
    refuse = true;
    expect(link.send('b')).toBe(false);
    peer.emit('close');
    refuse = false;
    expect(link.send('c')).toBe(false);
    expect(sent).toEqual(['a']);
  });
});
