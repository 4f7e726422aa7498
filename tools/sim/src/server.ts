/** A simulated server, and the sample list the engine collects latencies in. */
import type { Lease } from '@ballast/core';
import { NOMINAL, type Behaviour, type ServerSpec } from './scenario';

/** One request on its way through a server. */
export interface Job {
  readonly arrivalMs: number;
  readonly size: number;
  /** Uniform draw compared with the server's error rate at service start. */
  readonly failDraw: number;
  readonly lease: Lease;
  ok: boolean;
}

/** One server: a concurrency limit, a FIFO queue, and the integral of its in-flight count. */
export class Server {
  busy = 0;
  private readonly queue: Job[] = [];
  private head = 0;
  private inflightArea = 0;
  private lastChangeMs: number;
  readonly behaviour: (nowMs: number) => Behaviour;
  readonly failMs: number;

  constructor(
    readonly spec: ServerSpec,
    readonly joinedAtMs: number,
  ) {
    this.behaviour = spec.behaviour ?? (() => NOMINAL);
    this.failMs = spec.failMs ?? 1;
    this.lastChangeMs = joinedAtMs;
  }

  get outstanding(): number {
    return this.busy + this.queue.length - this.head;
  }

  /** Accounts the in-flight count up to `nowMs`; call before every change. */
  account(nowMs: number): void {
    this.inflightArea += this.outstanding * (nowMs - this.lastChangeMs);
    this.lastChangeMs = nowMs;
  }

  enqueue(job: Job): void {
    this.queue.push(job);
  }

  dequeue(): Job | undefined {
    if (this.head === this.queue.length) return undefined;
    const job = this.queue[this.head++];
    // Compact now and then so a long queue does not keep every served job alive.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return job;
  }

  meanInflight(endMs: number): number {
    const span = endMs - this.joinedAtMs;
    return span > 0 ? this.inflightArea / span : 0;
  }
}

/** Grows a Float64Array list by doubling. */
export class Samples {
  values = new Float64Array(1024);
  length = 0;

  push(x: number): void {
    if (this.length === this.values.length) {
      const next = new Float64Array(this.values.length * 2);
      next.set(this.values);
      this.values = next;
    }
    this.values[this.length++] = x;
  }

  sorted(): Float64Array {
    return this.values.slice(0, this.length).sort();
  }
}
