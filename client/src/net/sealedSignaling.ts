// A SignalingPort for password rooms: joins with the verifier, and seals every signal and relayed frame
// end to end, so the server only ever forwards ciphertext. The session and mesh above it are unchanged.

import type { Ack, Joined, JoinRequest } from '../protocol/signaling.ts';
import {
  deriveRoomKeys,
  open,
  ReplayGuard,
  type RoomKeys,
  type SealContext,
  Stamper,
  seal,
} from './crypto.ts';
import type { SignalingHandlers, SignalingPort } from './signaling.ts';

export interface SealedSignalingOptions {
  room: string;
  password: string;
  /** A payload that failed to open (or was not sealed) was dropped. */
  onReject(from: number, kind: SealContext['kind'], error: string): void;
  /** Tests only: fewer PBKDF2 rounds. */
  iterations?: number;
}

export class SealedSignaling implements SignalingPort {
  private readonly keys: Promise<RoomKeys>;
  private self = 0;
  private identified!: () => void;
  // Inbound payloads wait for our first ID: one addressed to us can overtake the join's ack.
  private readonly identity = new Promise<void>((resolve) => {
    this.identified = resolve;
  });
  // WebCrypto is async; both chains keep the order in which frames were sent and received.
  private outbound: Promise<unknown> = Promise.resolve();
  private inbound: Promise<unknown> = Promise.resolve();
  private readonly stamps = new Stamper();
  private relays: { to: number; data: string }[] = [];
  // A server that replays a sealed hello or offer could otherwise keep restarting open links.
  private readonly replays = new ReplayGuard();

  constructor(
    private readonly inner: SignalingPort,
    private readonly options: SealedSignalingOptions,
  ) {
    this.keys = deriveRoomKeys(options.password, options.room, options.iterations);
    // Reported by join(); this only keeps an early failure from being "unhandled".
    this.keys.catch(() => {});
  }

  get connected(): boolean {
    return this.inner.connected;
  }

  start(h: SignalingHandlers): void {
    this.inner.start({
      ...h,
      signal: (from, data) =>
        this.receive('signal', from, data, (text) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            this.options.onReject(from, 'signal', 'decrypted signal is not JSON');
            return;
          }
          h.signal(from, parsed);
        }),
      relay: (from, data) => this.receive('relay', from, data, (text) => h.relay(from, text)),
    });
  }

  async join(req: JoinRequest): Promise<Ack<Joined>> {
    let keys: RoomKeys;
    try {
      keys = await this.keys;
    } catch (err) {
      return {
        ok: false,
        code: 'bad_request',
        error: `cannot derive the room key: ${(err as Error).message}`,
      };
    }
    const res = await this.inner.join({ ...req, verifier: keys.verifier });
    if (res.ok) {
      this.self = res.id;
      this.identified();
    }
    return res;
  }

  leave(): Promise<Ack> {
    return this.inner.leave();
  }

  bye(unlisted?: boolean): void {
    this.inner.bye(unlisted);
  }

  // A control event, like join and leave: nothing in it to seal.
  remove(room: string, id: number, ownerToken: string): Promise<Ack> {
    return this.inner.remove(room, id, ownerToken);
  }

  signal(to: number, data: unknown): Promise<Ack> {
    const text = JSON.stringify(data);
    return this.chainOut(async () => {
      const sealed = await this.sealFor('signal', to, text);
      return this.inner.signal(to, sealed);
    });
  }

  relay(to: number, data: string): boolean {
    if (!this.inner.connected) return false;
    // The frames of one turn are sealed together and handed on together, so the port below still sends them
    // as one batch: handed on one by one, each after its own encryption, each would go as an event of its own.
    this.relays.push({ to, data });
    if (this.relays.length === 1)
      queueMicrotask(() => {
        const frames = this.relays;
        this.relays = [];
        void this.chainOut(async () => {
          const sealed = await Promise.all(frames.map((f) => this.sealFor('relay', f.to, f.data)));
          for (const [i, f] of frames.entries()) this.inner.relay(f.to, sealed[i] as string);
        });
      });
    return true;
  }

  setOffline(offline: boolean): void {
    this.inner.setOffline?.(offline);
  }

  reconnectIn(ms: number): void {
    this.inner.reconnectIn(ms);
  }

  redial(ms: number): void {
    this.inner.redial(ms);
  }

  close(): void {
    this.inner.close();
  }

  private async sealFor(kind: SealContext['kind'], to: number, text: string): Promise<string> {
    const { key } = await this.keys;
    return seal(key, text, { room: this.options.room, kind, from: this.self, to }, this.stamps.next());
  }

  private chainOut<T>(task: () => Promise<T>): Promise<T> {
    const next = this.outbound.then(task);
    this.outbound = next.catch(() => {});
    return next;
  }

  private receive(
    kind: SealContext['kind'],
    from: number,
    data: unknown,
    deliver: (text: string) => void,
  ): void {
    this.inbound = this.inbound
      .then(async () => {
        await this.identity;
        const { key } = await this.keys;
        const opened = await open(key, data, { room: this.options.room, kind, from, to: this.self });
        if (!opened.ok) return this.options.onReject(from, kind, opened.error);
        const replayed = this.replays.problem(from, kind, opened.stamp);
        if (replayed) return this.options.onReject(from, kind, replayed);
        this.replays.record(from, kind, opened.stamp);
        deliver(opened.text);
      })
      .catch(() => {});
  }
}
