/** Messages between a run and its upstream processes (see upstream-process.ts). */

/** The faults an upstream can be told to show. */
export type FaultMode = 'normal' | 'hang' | 'slow' | 'flap' | 'reset' | 'close-early';

/** Parent to upstream. */
export type UpstreamMessage =
  | { readonly type: 'mode'; readonly mode: FaultMode; readonly flapMs?: number }
  | { readonly type: 'stats' }
  | { readonly type: 'stop' };

/** Upstream to parent. */
export type UpstreamReport =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'mode'; readonly mode: FaultMode }
  | {
      readonly type: 'stats';
      readonly connections: number;
      readonly requests: number;
      readonly answered: number;
    };

/** Parent to gateway process. */
export type GatewayMessage =
  { readonly type: 'heap' } | { readonly type: 'snapshot' } | { readonly type: 'stop' };

/** Gateway process to parent. */
export type GatewayReport =
  | { readonly type: 'ready'; readonly url: string }
  | { readonly type: 'heap'; readonly heapUsed: number; readonly gc: boolean }
  | {
      readonly type: 'snapshot';
      readonly inflight: number;
      readonly states: Readonly<Record<string, string>>;
      readonly connections: number;
      /** Client connections accepted since the start. */
      readonly accepted: number;
    }
  | {
      readonly type: 'health-change';
      readonly id: string;
      readonly from: string;
      readonly to: string;
      /** Date.now() in the gateway process. */
      readonly at: number;
    };
