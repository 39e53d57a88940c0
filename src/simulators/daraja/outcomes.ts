/**
 * What the Daraja simulator can be told to do with a number's next STK push or B2C, and what it
 * reports about pushes not decided yet. Plain data with no imports: the dev-only phone page
 * (src/simulator/) validates its requests against these lists and drives the simulators process
 * over HTTP, never loading the simulator itself.
 */
export const SIMULATOR_OUTCOMES = [
  'success',
  /** STK: ResultCode 1032. */
  'cancelled',
  /** STK and B2C: ResultCode 1. */
  'insufficient_funds',
  /** STK: ResultCode 2001 (wrong PIN); B2C: 2001 (initiator information invalid). */
  'wrong_pin',
  /** STK: ResultCode 1037 (phone unreachable). */
  'unreachable',
  /**
   * Nothing is sent. STK query answers "being processed" until the delay passes, then 1037. B2C:
   * M-PESA times the payment out (nothing paid) and sends neither result nor timeout; only
   * Transaction Status tells (Expired).
   */
  'no_callback',
  /**
   * The payment succeeds but its callback is lost: only STK query tells (ResultCode 0). B2C: paid,
   * the result lost; only Transaction Status tells (Completed).
   */
  'lost_callback',
  /** The same callback twice, the second shortly after the first. */
  'duplicate_callback',
  /** B2C: the QueueTimeOutURL is called instead of ResultURL. STK: as no_callback. */
  'queue_timeout',
  /**
   * STK: the push stays pending (STK query: "being processed") until `resolveStkPush` decides it
   * with another outcome. B2C: as success.
   */
  'hold',
] as const;
export type SimulatorOutcome = (typeof SIMULATOR_OUTCOMES)[number];
/** The outcomes that decide an STK push: all but `hold`. */
export type StkResolution = Exclude<SimulatorOutcome, 'hold'>;
export const STK_RESOLUTIONS: readonly StkResolution[] = SIMULATOR_OUTCOMES.filter(
  (o): o is StkResolution => o !== 'hold',
);

/** An STK push the customer has not answered yet (its result not decided). */
export interface PendingStkPush {
  checkoutRequestId: string;
  merchantRequestId: string;
  phoneNumber: string;
  amount: number;
  requestedAt: Date;
  /** True when held by `hold` (decided only by `resolveStkPush`); false while its delay runs. */
  held: boolean;
}
